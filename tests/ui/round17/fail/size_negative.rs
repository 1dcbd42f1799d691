#[pooled::pooled(size = -1)]
fn work() {}

fn main() {}
