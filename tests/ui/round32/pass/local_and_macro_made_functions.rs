// pool-macros/src/lib.rs, "The handle": "next to a free function `fetch`, a
// `const FETCH_POOL` in the same module, with the function's visibility".
// The same holds for a function declared inside another function's body
// (the handle is an item of that block) and for a function a `macro_rules!`
// macro writes from the name its caller gives (the handle is named from that
// name, so the caller can use it).
macro_rules! pooled_fn {
    ($name:ident, $size:literal) => {
        #[pooled::pooled(size = $size)]
        fn $name(n: u32) -> u32 {
            n + 1
        }
    };
}

pooled_fn!(alpha, 2);
pooled_fn!(beta, 3);

fn outer() -> u32 {
    #[pooled::pooled(size = 4)]
    fn inner(n: u32) -> u32 {
        n * 2
    }
    assert_eq!(INNER_POOL.size(), 4);
    inner(21)
}

fn main() {
    assert_eq!(alpha(1) + beta(2), 5);
    assert_eq!((ALPHA_POOL.size(), BETA_POOL.size()), (2, 3));
    assert!(ALPHA_POOL.name().ends_with("::alpha"), "{}", ALPHA_POOL.name());
    assert_eq!(outer(), 42);
}
