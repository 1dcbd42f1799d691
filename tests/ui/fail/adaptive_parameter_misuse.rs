// The adaptive policy's parameters: only on an adaptive pool, only known
// ones (with a suggestion), of the right kind, in the runtime's ranges.
#[pooled::pooled(kind = "autoscale", adaptive_tolerance = 2.0)]
async fn not_adaptive() {}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", adaptive_tolerence = 2.0)]
async fn misspelt() {}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", adaptive_smoothing = 1.5)]
async fn out_of_range() {}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", adaptive_window_samples = 0)]
async fn no_samples() {}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", adaptive_window_time = 100)]
async fn wrong_kind() {}

fn main() {}
