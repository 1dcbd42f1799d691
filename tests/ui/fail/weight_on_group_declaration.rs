#[pooled::group(order = "priority", weight = 3)]
struct Api;

fn main() {}
