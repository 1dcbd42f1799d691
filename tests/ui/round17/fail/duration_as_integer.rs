#[pooled::pooled(admission_timeout = 5)]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
