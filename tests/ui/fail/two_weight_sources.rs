#[pooled::pooled(order = "priority", weight = 1)]
fn work(#[weight] urgency: i64) -> i64 {
    urgency
}

fn main() {}
