use std::future::IntoFuture;

#[pooled::pooled]
fn get() -> impl IntoFuture<Output = u8> {
    std::future::ready(1)
}

fn main() {}
