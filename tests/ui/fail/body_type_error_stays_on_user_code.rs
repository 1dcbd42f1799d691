#[pooled::pooled]
fn work(count: u32) -> u32 {
    if count > 3 {
        return "many";
    }
    count
}

fn main() {}
