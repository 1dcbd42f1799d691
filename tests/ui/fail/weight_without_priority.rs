#[pooled::pooled(weight = 10)]
fn work() {}

fn main() {}
