#[pooled::pooled(admission_timeout = "99999999999999999999999s")]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
