#[pooled::pooled(kind = "elastic", order = "random", weight = 1)]
fn work() {}

fn main() {
    // The handle still exists, so this line adds no error of its own.
    WORK_POOL.pause();
    work();
}
