#[pooled::group(sise = 2)]
struct Api;

fn main() {}
