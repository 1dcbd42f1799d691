use std::future::Future;

#[pooled::pooled]
fn get() -> impl Future<Output = u8> + Clone {
    std::future::ready(1)
}

fn main() {}
