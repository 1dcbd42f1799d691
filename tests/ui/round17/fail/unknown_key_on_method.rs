struct Client;

impl Client {
    #[pooled::pooled(max_wating = 3)]
    fn get(&self) -> std::io::Result<u8> {
        Ok(1)
    }
}

fn main() {}
