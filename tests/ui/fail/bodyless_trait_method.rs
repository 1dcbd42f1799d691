trait Store {
    #[pooled::pooled]
    fn get(&self) -> u32;
}

fn main() {}
