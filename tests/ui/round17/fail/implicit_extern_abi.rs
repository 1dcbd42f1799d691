#[pooled::pooled]
extern fn work() -> u32 {
    1
}

fn main() {}
