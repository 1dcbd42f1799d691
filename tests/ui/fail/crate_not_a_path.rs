#[pooled::pooled(crate = "my facade")]
fn work() {}

fn main() {}
