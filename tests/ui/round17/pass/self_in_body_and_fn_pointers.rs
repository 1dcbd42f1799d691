//! `pool-macros/src/lib.rs`, "The handle": "A function counts as a method
//! when it takes `self` or mentions `Self` in its signature or body": an
//! associated function that names `Self` only in its body (in an expression,
//! inside a macro's tokens, inside a closure) gets an associated handle.
//! DESIGN §4: "Adding or removing `#[pooled]` never changes a function's
//! type or its callers": annotated functions still coerce to function
//! pointers (`unsafe fn` included) and take explicit generic arguments.
struct Limits;

impl Limits {
    const LIMIT: u32 = 7;

    #[pooled::pooled(size = 2)]
    fn in_expression() -> u32 {
        Self::LIMIT
    }

    #[pooled::pooled(size = 2)]
    fn in_macro() -> String {
        format!("{}", Self::LIMIT)
    }

    #[pooled::pooled(size = 2)]
    fn in_closure() -> u32 {
        let get = || Self::LIMIT + 1;
        get()
    }
}

#[pooled::pooled(size = 2)]
fn checksum(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

#[pooled::pooled(size = 2)]
unsafe fn read(ptr: *const u32) -> u32 {
    unsafe { *ptr }
}

#[pooled::pooled(size = 2)]
fn pick<T: Default, const N: usize>() -> [T; N]
where
    T: Copy,
{
    [T::default(); N]
}

fn main() {
    assert_eq!(Limits::in_expression(), 7);
    assert_eq!(Limits::in_macro(), "7");
    assert_eq!(Limits::in_closure(), 8);
    assert_eq!(Limits::IN_EXPRESSION_POOL.stats().completed, 1);
    assert_eq!(Limits::IN_MACRO_POOL.stats().completed, 1);
    assert_eq!(Limits::IN_CLOSURE_POOL.stats().completed, 1);

    let f: fn(&[u8]) -> u64 = checksum;
    assert_eq!(f(&[1, 2, 3]), 6);
    let g: unsafe fn(*const u32) -> u32 = read;
    let value = 5u32;
    assert_eq!(unsafe { g(&value) }, 5);
    assert_eq!(pick::<u8, 3>(), [0, 0, 0]);
    assert_eq!(CHECKSUM_POOL.stats().completed, 1);
    assert_eq!(READ_POOL.stats().completed, 1);
    assert_eq!(PICK_POOL.stats().completed, 1);
}
