// pool-macros/src/lib.rs, "Sync, async and blocking functions": "`blocking`
// ... makes the function `async`; its arguments must then be `Send +
// 'static` (a borrowed one, `data: &[u8]` or `&self`, is a compile error on
// it that names the fix)". An argument that borrows inside its type (a
// tuple holding a `&str`, destructured by a pattern) is refused by rustc
// instead, on the attribute, naming the expansion's local `__arg0` and no
// fix. The expected `.stderr` is the attribute's own message for borrowed
// arguments, on the argument's type.
#[pooled::pooled(blocking)]
fn pair((name, _n): (&str, u32)) -> usize {
    name.len()
}

fn main() {}
