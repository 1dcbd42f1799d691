#[pooled::group(kind = "autoscale")]
struct Api;

#[pooled::pooled(group = Api, policy = "adaptive")]
async fn work() {}

fn main() {}
