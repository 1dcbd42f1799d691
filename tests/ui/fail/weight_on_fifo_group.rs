#[pooled::group(size = 2)]
struct Jobs;

#[pooled::pooled(group = Jobs, weight = 5)]
fn work() {}

fn main() {
    work();
}
