#[pooled::pooled(admission_timeout = "500")]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
