#[pooled::pooled(blocking)]
async fn work() -> u32 {
    1
}

fn main() {}
