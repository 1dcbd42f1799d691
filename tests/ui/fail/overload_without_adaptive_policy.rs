fn is_busy(_: &std::io::Error) -> bool {
    false
}

#[pooled::pooled(kind = "autoscale", max = 8, overload = is_busy)]
async fn work() -> std::io::Result<u8> {
    Ok(1)
}

fn main() {}
