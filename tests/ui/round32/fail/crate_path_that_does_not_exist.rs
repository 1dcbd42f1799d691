// pool-macros/src/lib.rs, "Keys": `crate` is "where a re-exporting crate put
// `pooled`". A path that names nothing should be reported once, on the
// string, not as a cascade of errors inside the expansion.
#[pooled::pooled(size = 2, crate = "::not_pooled")]
async fn fetch() -> u32 {
    1
}

fn main() {}
