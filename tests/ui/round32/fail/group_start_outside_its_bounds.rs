// pool-macros/src/lib.rs, `#[pooled::group]`: "It takes the pool keys of
// `#[pooled]`", checked as there: a `size` outside `min..=max` is refused on
// the declaration, on the offending token.
#[pooled::group(kind = "autoscale", size = 20, max = 8)]
struct Backend;

fn main() {}
