#[pooled::pooled(order = "priority")]
fn work(#[weight] a: i64, #[weight] b: i64) -> i64 {
    a + b
}

fn main() {}
