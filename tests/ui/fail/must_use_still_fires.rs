#![deny(unused_must_use)]

#[must_use]
#[pooled::pooled]
fn important() -> u32 {
    1
}

#[pooled::pooled]
async fn fetch() -> u32 {
    1
}

fn main() {
    important();
    fetch();
}
