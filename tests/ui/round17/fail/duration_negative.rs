#[pooled::pooled(admission_timeout = "-1s")]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
