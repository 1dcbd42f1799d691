// pool-macros/src/lib.rs, "Keys": `key = value`. Written `key: value`, the
// error should point at the colon (or the key) and say how to write it.
#[pooled::pooled(size: 4)]
async fn fetch() -> u32 {
    1
}

fn main() {}
