// An autoscale pool's `size` is where it starts: within `min..=max`.
#[pooled::pooled(kind = "autoscale", min = 2, max = 6, size = 9)]
fn work() {}

// A fixed pool has no autoscale timing.
#[pooled::pooled(size = 2, autoscale_window = 4)]
fn fixed() {}

fn main() {}
