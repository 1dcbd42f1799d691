#[pooled::pooled(max_waiting = 5)]
fn work() -> u32 {
    1
}

fn main() {}
