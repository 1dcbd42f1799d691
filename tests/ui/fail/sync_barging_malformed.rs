// `sync_barging` takes a duration literal, as `admission_timeout` does, and
// its error points at the literal.
#[pooled::pooled(size = 2, sync_barging = "5")]
fn work() -> u32 {
    1
}

fn main() {}
