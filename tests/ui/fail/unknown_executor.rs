#[pooled::pooled(blocking, executor = "gpu")]
fn crunch() -> u64 {
    42
}

fn main() {}
