#[pooled::pooled(order = "priority", weight = 1.5)]
async fn work() {}

fn main() {}
