// pool-macros/src/lib.rs, "Autoscale policies and overload": `overload =
// path` names a `fn(&E) -> bool`. A misspelt path should be rustc's "cannot
// find" error on the path, and only that.
#[derive(Debug)]
struct ApiError;

impl From<pooled::Rejected> for ApiError {
    fn from(_: pooled::Rejected) -> Self {
        ApiError
    }
}

fn is_overloaded(_: &ApiError) -> bool {
    false
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = is_overloadd)]
async fn query(id: u32) -> Result<u32, ApiError> {
    Ok(id)
}

fn main() {
    let _ = is_overloaded;
}
