#[pooled::pooled(timeout = "2sec")]
fn work() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
