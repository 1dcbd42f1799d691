// pool-macros/src/lib.rs, keys: "`size` | integer ≥ 1 | 3 | slots of a fixed
// pool; where an autoscale pool starts (within `min..=max`; default `min`,
// or 1 if `min` is 0)"; DESIGN §4: "wrong value types, impossible
// combinations ... are compile errors spanned on the offending token". An
// autoscale pool told to start at 0 (`min = 0`, so within the bounds).
#[pooled::pooled(kind = "autoscale", min = 0, max = 4, size = 0)]
async fn elastic() {}

#[pooled::group(kind = "autoscale", min = 0, max = 4, size = 0)]
struct Elastic;

fn main() {}
