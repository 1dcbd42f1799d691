#[pooled::pooled(max_waiting = 1.0)]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
