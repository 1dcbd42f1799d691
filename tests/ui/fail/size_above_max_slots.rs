// `pooled::MAX_SLOTS` is 1073741823 (2^30 - 1); one more is refused at
// compile time, on the number, for every count key.
#[pooled::pooled(size = 1073741824)]
fn work() {}

#[pooled::pooled(kind = "autoscale", min = 1, max = 1073741824)]
async fn elastic() {}

#[pooled::pooled(size = 2, max_waiting = 1073741824)]
fn bounded() -> Result<(), pooled::Rejected> {
    Ok(())
}

fn main() {}
