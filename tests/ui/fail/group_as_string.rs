#[pooled::pooled(group = "Api")]
fn work() {}

fn main() {}
