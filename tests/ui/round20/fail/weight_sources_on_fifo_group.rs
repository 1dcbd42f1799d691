// pool-macros/src/lib.rs:251-253: "Weights need `order = \"priority\"`: on ...
// a declared group that is not a priority group, they are a compile error (the
// latter is checked by evaluating a constant, so rustc reports it on the
// `weight`)." A weight parameter and a weight expression, not only a constant.
#[pooled::group(size = 2)]
struct Jobs;

#[pooled::pooled(group = Jobs)]
fn by_param(#[weight] urgency: i32) -> i32 {
    urgency
}

#[pooled::pooled(group = Jobs, weight = i64::from(shard) * 2)]
fn by_expression(shard: u8) -> u8 {
    shard
}

fn main() {
    by_param(1);
    by_expression(2);
}
