#[pooled::group(order = "lifo", policy = "adaptive")]
struct Api;

fn main() {}
