#[pooled::group(size = 2)]
fn api() {}

fn main() {}
