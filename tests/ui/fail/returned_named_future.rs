//! A named future type cannot be rebuilt around the slot.

struct ResponseFuture;

impl std::future::Future for ResponseFuture {
    type Output = u8;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<u8> {
        std::task::Poll::Ready(1)
    }
}

#[pooled::pooled]
fn get() -> ResponseFuture {
    ResponseFuture
}

fn main() {}
