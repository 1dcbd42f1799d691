#[pooled::pooled(size = 2)]
#[pooled::pooled(size = 3)]
fn work() {}

fn main() {}
