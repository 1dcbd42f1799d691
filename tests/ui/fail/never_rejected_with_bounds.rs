// A function that cannot return an error waits instead of being rejected,
// so a waiting bound or an admission timeout on it would never apply.
#[pooled::pooled(max_waiting = 10)]
fn no_result() -> u32 {
    1
}

#[pooled::pooled(wait, admission_timeout = "1s")]
fn waits(x: u32) -> Result<u32, pooled::Rejected> {
    Ok(x)
}

fn main() {}
