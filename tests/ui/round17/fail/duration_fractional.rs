#[pooled::pooled(admission_timeout = "1.5s")]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
