#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = |e: &std::io::Error| e.raw_os_error() == Some(11))]
async fn work() -> std::io::Result<u8> {
    Ok(1)
}

fn main() {}
