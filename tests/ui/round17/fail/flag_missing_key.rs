#[pooled::pooled(= 3)]
fn work() {}

fn main() {}
