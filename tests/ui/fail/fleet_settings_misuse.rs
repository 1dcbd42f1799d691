// The fleet keys' bad values, each refused on its own token (the keys table:
// `fleet_limit` 1 to MAX_SLOTS, `fleet_url` a redis:// or unix:// URL,
// `fleet_lease` 100 ms to 24 h, `fleet_unreachable` one of three; the last
// three need a `fleet_limit`).
#[pooled::pooled(fleet_limit = 0, fleet_url = "redis://127.0.0.1:6379")]
async fn zero_limit() {}

#[pooled::pooled(fleet_limit = 1073741824, fleet_url = "redis://127.0.0.1:6379")]
async fn huge_limit() {}

#[pooled::pooled(fleet_limit = 2, fleet_url = "http://127.0.0.1:6379")]
async fn not_redis() {}

#[pooled::pooled(fleet_limit = 2, fleet_url = "redis://127.0.0.1:6379", fleet_lease = "50ms")]
async fn short_lease() {}

#[pooled::pooled(fleet_limit = 2, fleet_url = "redis://127.0.0.1:6379", fleet_lease = "25h")]
async fn long_lease() {}

#[pooled::pooled(fleet_limit = 2, fleet_url = "redis://127.0.0.1:6379", fleet_unreachable = "retry")]
async fn unknown_policy() {}

#[pooled::pooled(fleet_url = "redis://127.0.0.1:6379")]
async fn url_without_limit() {}

#[pooled::pooled(fleet_lease = "10s", fleet_unreachable = "local")]
async fn lease_without_limit() {}

fn main() {}
