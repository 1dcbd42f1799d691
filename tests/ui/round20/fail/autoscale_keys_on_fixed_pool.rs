// pool-macros/src/lib.rs:146-149: "`min`, `max`, `policy`, `autoscale_interval`,
// `autoscale_window` (and the `adaptive_*` parameters ...) apply to autoscale
// pools only: on a fixed pool each is a compile error naming the key to use
// instead." (`max` and `policy` have cases of their own.)
#[pooled::pooled(min = 1)]
fn lower() {}

#[pooled::pooled(kind = "fixed", autoscale_interval = "1s")]
fn interval() {}

#[pooled::pooled(autoscale_window = 4)]
fn window() {}

#[pooled::pooled(kind = "fixed", adaptive_tolerance = 2.0)]
fn tolerance() {}

#[pooled::group(min = 1)]
struct Lower;

#[pooled::group(autoscale_window = 4)]
struct Window;

fn main() {
    lower();
    interval();
    window();
    tolerance();
}
