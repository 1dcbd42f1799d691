// pool-macros/src/lib.rs:514-515: "doc comments and other attributes all keep
// working": `#[deprecated]` warns at the call, and only there.
#![deny(deprecated)]

#[deprecated(note = "use fetch_v2")]
#[pooled::pooled(size = 2)]
fn fetch() -> u32 {
    1
}

fn main() {
    let _ = FETCH_POOL.size();
    assert_eq!(fetch(), 1);
}
