#[pooled::pooled(admission_timeout = "")]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
