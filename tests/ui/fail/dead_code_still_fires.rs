#![deny(dead_code)]

#[pooled::pooled]
fn never_called() -> u32 {
    1
}

fn main() {}
