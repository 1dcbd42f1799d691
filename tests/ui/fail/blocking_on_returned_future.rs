use std::future::Future;

#[pooled::pooled(blocking)]
fn get() -> impl Future<Output = u8> {
    async { 1 }
}

fn main() {}
