#[pooled::group]
enum Api {}

fn main() {}
