#[pooled::pooled(fleet_limit = 4)]
async fn fetch() {}

fn main() {}
