//! Receivers and generics the docs promise but earlier pass cases do not
//! spell: `self: Box<Self>`, `self: Rc<Self>`, `self: Pin<&mut Self>` on a
//! sync method, const generics, a generic method of a generic `impl` (one
//! pool for every instantiation), a `where` clause with a higher-ranked bound.
use std::pin::Pin;
use std::rc::Rc;

struct Counter(u32);

impl Counter {
    #[pooled::pooled(size = 1)]
    fn boxed(self: Box<Self>) -> u32 {
        self.0
    }

    #[pooled::pooled(size = 1)]
    fn shared(self: Rc<Self>) -> u32 {
        self.0 + 1
    }

    #[pooled::pooled(size = 1)]
    fn pinned(self: Pin<&mut Self>) -> u32 {
        self.get_mut().0 += 1;
        7
    }
}

struct Wrapper<T>(T);

impl<T: Clone> Wrapper<T> {
    #[pooled::pooled(size = 2)]
    fn get(&self) -> T {
        self.0.clone()
    }
}

#[pooled::pooled(size = 2)]
fn first<const N: usize>(values: [u8; N]) -> usize {
    N + usize::from(values[0])
}

#[pooled::pooled(size = 2)]
async fn apply<F>(f: F) -> u32
where
    F: for<'a> Fn(&'a str) -> u32,
{
    f("four")
}

#[pooled::pooled]
extern "Rust" fn explicit() -> u8 {
    3
}

fn main() {
    assert_eq!(Box::new(Counter(4)).boxed(), 4);
    assert_eq!(Rc::new(Counter(4)).shared(), 5);
    let mut counter = Counter(1);
    assert_eq!(Pin::new(&mut counter).pinned(), 7);
    assert_eq!(counter.0, 2);
    assert_eq!(Counter::BOXED_POOL.stats().completed, 1);
    assert_eq!(Counter::SHARED_POOL.stats().completed, 1);
    assert_eq!(Counter::PINNED_POOL.stats().completed, 1);
    // One pool for all instantiations of a generic impl.
    assert_eq!(Wrapper(1u8).get(), 1);
    assert_eq!(Wrapper("a").get(), "a");
    assert_eq!(Wrapper::<u8>::GET_POOL.stats().completed, 2);
    assert!(std::ptr::eq(Wrapper::<u8>::GET_POOL, Wrapper::<&str>::GET_POOL));
    // And for a const-generic fn.
    assert_eq!(first([1, 2]), 3);
    assert_eq!(first([1, 2, 3]), 4);
    assert_eq!(FIRST_POOL.stats().completed, 2);
    assert_eq!(futures::executor::block_on(apply(|s: &str| s.len() as u32)), 4);
    assert_eq!(explicit(), 3);
    assert_eq!(EXPLICIT_POOL.size(), 3);
}
