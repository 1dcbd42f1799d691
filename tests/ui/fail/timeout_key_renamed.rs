// The attribute's key is `admission_timeout`, as in configuration files and
// the environment; the old `timeout` says so.
#[pooled::pooled(timeout = "2s")]
fn work() -> Result<(), pooled::Rejected> {
    Ok(())
}

fn main() {}
