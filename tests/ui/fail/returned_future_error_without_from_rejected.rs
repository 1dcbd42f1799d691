use std::future::Future;

#[pooled::pooled]
fn get() -> impl Future<Output = Result<u8, String>> {
    async { Ok(1) }
}

fn main() {}
