#[pooled::pooled(name = 5)]
fn work() {}

fn main() {}
