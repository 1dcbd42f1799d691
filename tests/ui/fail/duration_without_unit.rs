#[pooled::pooled(timeout = "500")]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
