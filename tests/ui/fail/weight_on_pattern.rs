#[pooled::pooled(order = "priority")]
fn work(#[weight] (urgency, _id): (i64, u32)) -> i64 {
    urgency
}

fn main() {}
