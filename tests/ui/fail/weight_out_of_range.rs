#[pooled::pooled(order = "priority", weight = 9223372036854775808)]
fn work() {}

fn main() {}
