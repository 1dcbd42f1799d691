#[pooled::pooled(order = "lifo")]
fn work(#[weight] urgency: i64) -> i64 {
    urgency
}

fn main() {}
