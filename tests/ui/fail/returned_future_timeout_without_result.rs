use std::future::Future;
use std::pin::Pin;

#[pooled::pooled(admission_timeout = "1s")]
fn get() -> Pin<Box<dyn Future<Output = u8> + Send>> {
    Box::pin(async { 1 })
}

fn main() {}
