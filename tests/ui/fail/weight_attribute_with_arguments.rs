#[pooled::pooled(order = "priority")]
fn work(#[weight(high)] urgency: i64) -> i64 {
    urgency
}

fn main() {}
