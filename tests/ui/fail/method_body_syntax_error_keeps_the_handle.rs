// A method's body with a syntax error still gets its handle, as an associated
// const (the method takes `self`), so `Client::GET_POOL` resolves.
struct Client;

impl Client {
    #[pooled::pooled(size = 2)]
    fn get(&self, path: &str) -> usize {
        path.len() +
    }
}

fn main() {
    Client::GET_POOL.pause();
    let _ = Client.get("/");
}
