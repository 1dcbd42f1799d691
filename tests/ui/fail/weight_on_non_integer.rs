#[pooled::pooled(order = "priority")]
async fn fetch(#[weight] url: &str) -> usize {
    url.len()
}

fn main() {}
