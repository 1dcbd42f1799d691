// pool-macros/src/lib.rs:160-162: "A function counts as a method when it takes
// `self` or mentions `Self` in its signature or body (outside the items its
// body declares: a local type's `impl` has a `Self` of its own)." A
// `macro_rules!` the body declares, used only inside a local type's `impl`,
// is one of those items: the function stays free, with a module handle.
#[pooled::pooled(size = 2)]
fn made() -> u32 {
    struct Local(u32);

    macro_rules! make {
        ($n:expr) => {
            Self($n)
        };
    }

    impl Local {
        fn new() -> Self {
            make!(7)
        }
    }

    Local::new().0
}

fn main() {
    assert_eq!(made(), 7);
    assert_eq!(MADE_POOL.size(), 2);
}
