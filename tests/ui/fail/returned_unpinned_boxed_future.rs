use std::future::Future;

#[pooled::pooled]
fn get() -> Box<dyn Future<Output = u8> + Unpin + Send> {
    Box::new(std::future::ready(1))
}

fn main() {}
