#[pooled::pooled(admission_timeout = "500ms")]
fn work() -> u32 {
    1
}

fn main() {}
