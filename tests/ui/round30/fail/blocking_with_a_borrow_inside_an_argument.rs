// pool-macros/src/lib.rs, "Sync, async and blocking functions": "`blocking`
// ... makes the function `async`; its arguments must then be `Send +
// 'static` (a borrowed one, `data: &[u8]` or `&self`, is a compile error on
// it that names the fix)". An argument that borrows inside its type (a
// tuple holding a `&str`, destructured by a pattern; a `Vec<&str>`; an
// `Option<&[u8]>`; a `Cow<'a, str>`; a trait object bounded by `'a`) is
// refused with the attribute's own message, on the argument's type (it was
// rustc's E0521 on the attribute, naming the expansion's local `__arg0`).
#[pooled::pooled(blocking)]
fn pair((name, _n): (&str, u32)) -> usize {
    name.len()
}

#[pooled::pooled(blocking)]
fn words(list: Vec<&str>) -> usize {
    list.len()
}

#[pooled::pooled(blocking)]
fn maybe(data: Option<&[u8]>) -> usize {
    data.map_or(0, <[u8]>::len)
}

#[pooled::pooled(blocking)]
fn text<'a>(text: std::borrow::Cow<'a, str>) -> usize {
    text.len()
}

#[pooled::pooled(blocking)]
fn shown<'a>(value: Box<dyn std::fmt::Display + Send + 'a>) -> String {
    value.to_string()
}

fn main() {}
