#[pooled::pooled(blocking = true)]
fn work() {}

fn main() {}
