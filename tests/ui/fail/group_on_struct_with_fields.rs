#[pooled::group(size = 2)]
struct Api {
    base: String,
}

fn main() {}
