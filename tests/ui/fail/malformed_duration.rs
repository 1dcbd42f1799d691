#[pooled::pooled(admission_timeout = "2sec")]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
