#[pooled::group(size = 2)]
struct Api {}

fn main() {}
