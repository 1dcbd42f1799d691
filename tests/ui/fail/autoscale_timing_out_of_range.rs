// `autoscale_window` is a count of samples from 1 to 4096, and
// `autoscale_interval` a duration above zero (the runtime's own bounds).
#[pooled::pooled(kind = "autoscale", autoscale_window = 0)]
fn no_window() {}

#[pooled::pooled(kind = "autoscale", autoscale_window = 4097)]
fn window_too_long() {}

#[pooled::pooled(kind = "autoscale", autoscale_interval = "0s")]
fn zero_interval() {}

fn main() {}
