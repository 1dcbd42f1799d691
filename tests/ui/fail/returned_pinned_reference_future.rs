use std::future::Future;
use std::pin::Pin;

#[pooled::pooled]
fn poll_me<'a>(inner: Pin<&'a mut (dyn Future<Output = u8> + 'a)>) -> Pin<&'a mut (dyn Future<Output = u8> + 'a)> {
    inner
}

fn main() {}
