// pool-macros/src/lib.rs:246-247: "`#[weight]` on a parameter of an integer
// type (`i8` … `i128`, `u8` … `u128`, `isize`, `usize`, written as such)".
type Urgency = i32;

#[pooled::pooled(order = "priority")]
fn fetch(#[weight] urgency: Urgency) -> i32 {
    urgency
}

fn main() {
    fetch(1);
}
