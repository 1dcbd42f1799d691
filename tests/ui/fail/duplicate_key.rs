#[pooled::pooled(size = 2, size = 3)]
fn work() {}

fn main() {}
