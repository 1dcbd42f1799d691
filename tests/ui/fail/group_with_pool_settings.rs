#[pooled::group]
struct Api;

#[pooled::pooled(group = Api, size = 4)]
fn work() {}

fn main() {}
