#[pooled::pooled(size = 2)]
struct Client;

fn main() {}
