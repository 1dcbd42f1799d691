#[pooled::pooled(wait, max_waiting = 10)]
fn work() -> Result<u32, String> {
    Ok(1)
}

fn main() {}
