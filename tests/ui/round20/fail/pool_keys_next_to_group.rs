// pool-macros/src/lib.rs:201-203: "next to `group`, a function takes only
// `weight`, `overload`, `blocking`, `wait` and `crate`."
#[pooled::group]
struct Api;

#[pooled::pooled(group = Api, sync_barging = "1ms")]
fn barging() {}

#[pooled::pooled(group = Api, max_waiting = 2)]
fn bounded() -> Result<(), pooled::Rejected> {
    Ok(())
}

#[pooled::pooled(group = Api, admission_timeout = "1s")]
fn impatient() -> Result<(), pooled::Rejected> {
    Ok(())
}

#[pooled::pooled(group = Api, order = "lifo")]
fn ordered() {}

#[pooled::pooled(group = Api, kind = "autoscale")]
fn scaled() {}

fn main() {
    barging();
    let _ = bounded();
    let _ = impatient();
    ordered();
    scaled();
}
