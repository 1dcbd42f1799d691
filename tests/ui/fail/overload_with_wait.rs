fn is_busy(_: &std::io::Error) -> bool {
    false
}

#[pooled::pooled(wait, kind = "autoscale", policy = "adaptive", overload = is_busy)]
async fn work() -> std::io::Result<u8> {
    Ok(1)
}

fn main() {}
