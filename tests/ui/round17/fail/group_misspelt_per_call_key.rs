#[pooled::group(size = 2, wieght = 1)]
struct Api;

fn main() {}
