#[pooled::pooled(size = 99999999999999999999999)]
fn work() {}

fn main() {}
