fn is_busy(_: &std::io::Error) -> bool {
    false
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = is_busy)]
async fn work() -> Option<u8> {
    Some(1)
}

fn main() {}
