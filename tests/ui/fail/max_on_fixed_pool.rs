#[pooled::pooled(max = 8)]
fn work() {}

fn main() {}
