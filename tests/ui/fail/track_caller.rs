// The body runs inside a closure, where `#[track_caller]` has no effect: it
// is refused rather than silently ignored.
#[pooled::pooled(size = 2)]
#[track_caller]
fn checked(n: u32) -> u32 {
    assert!(n > 0, "n must be positive");
    n
}

fn main() {
    checked(1);
}
