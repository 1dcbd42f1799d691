#[pooled::group(order = "priority")]
struct Api;

#[pooled::pooled(group = Apj, weight = 1)]
async fn fetch() {}

fn main() {}
