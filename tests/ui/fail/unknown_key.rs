#[pooled::pooled(sise = 2)]
fn work() {}

fn main() {}
