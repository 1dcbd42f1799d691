#[pooled::pooled(size = 0)]
fn work() {}

fn main() {}
