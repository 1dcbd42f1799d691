// Next to `group`, a function takes only `weight`, `overload`, `blocking`,
// `wait` and `crate`: every other key belongs on the group's declaration.
#[pooled::group]
struct Api;

#[pooled::pooled(group = Api, autoscale_interval = "1s")]
fn interval() {}

#[pooled::pooled(group = Api, autoscale_window = 4)]
fn window() {}

#[pooled::pooled(group = Api, executor = "default")]
fn executor() {}

#[pooled::pooled(group = Api, adaptive_tolerance = 2.0)]
fn adaptive() {}

#[pooled::pooled(group = Api, fleet_limit = 3, fleet_url = "redis://127.0.0.1:6379")]
fn fleet() {}

#[pooled::pooled(group = Api, fleet_lease = "10s", fleet_unreachable = "local")]
fn lease() {}

fn main() {
    interval();
    window();
    executor();
    adaptive();
    fleet();
    lease();
}
