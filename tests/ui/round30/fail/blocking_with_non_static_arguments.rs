// pool-macros/src/lib.rs, "Sync, async and blocking functions": "`blocking`
// ... makes the function `async`; its arguments must then be `Send +
// 'static` (a borrowed one, `data: &[u8]` or `&self`, is a compile error on
// it that names the fix)". A `&mut` argument.
#[pooled::pooled(blocking)]
fn fill(buffer: &mut Vec<u8>) {
    buffer.push(1);
}

fn main() {}
