#[pooled::pooled(size)]
fn work() {}

fn main() {}
