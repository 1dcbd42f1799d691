#[pooled::pooled(kind = "elastic")]
fn work() {}

fn main() {}
