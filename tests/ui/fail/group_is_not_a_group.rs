#[pooled::pooled(group = String)]
fn work() {}

fn main() {}
