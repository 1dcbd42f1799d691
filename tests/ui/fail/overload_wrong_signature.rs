#[derive(Debug)]
enum ApiError {
    Busy(pooled::Rejected),
}

impl From<pooled::Rejected> for ApiError {
    fn from(rejected: pooled::Rejected) -> Self {
        ApiError::Busy(rejected)
    }
}

fn is_busy(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = is_busy)]
async fn work() -> Result<u8, ApiError> {
    Ok(1)
}

fn main() {}
