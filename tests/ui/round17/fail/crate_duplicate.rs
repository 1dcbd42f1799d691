#[pooled::pooled(crate = "::pooled", crate = "::pooled")]
fn work() {}

fn main() {}
