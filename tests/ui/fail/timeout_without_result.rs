#[pooled::pooled(timeout = "500ms")]
fn work() -> u32 {
    1
}

fn main() {}
