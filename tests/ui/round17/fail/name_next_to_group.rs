#[pooled::group]
struct Api;

#[pooled::pooled(group = Api, name = "other")]
fn work() {}

fn main() {
    work();
}
