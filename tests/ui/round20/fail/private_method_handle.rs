// pool-macros/src/lib.rs:211: "a method's handle is `pub(self)` unless the
// method has a visibility of its own".
mod client {
    pub struct Client;

    impl Client {
        #[pooled::pooled(size = 2)]
        fn get(&self) -> u32 {
            1
        }

        pub fn call(&self) -> u32 {
            self.get()
        }
    }
}

fn main() {
    assert_eq!(client::Client.call(), 1);
    let _ = client::Client::GET_POOL.size();
}
