#[pooled::group(size = 2)]
struct Api(u8);

fn main() {}
