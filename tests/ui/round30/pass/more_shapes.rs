// pool-macros/src/lib.rs, "Every shape of function": "Borrowed, `&mut` and
// `mut` arguments, patterns, generics, `impl Trait` (arguments and return),
// `where` clauses, lifetimes, every receiver ..., `unsafe fn`, visibilities,
// doc comments and other attributes all keep working"; "Weights": `#[weight]`
// "on a parameter of an integer type"; "Rejections": "the return type's last
// path segment is `Result`"; "Functions that return a future": "`impl
// Future<Output = T>` (with any of `+ Send`, `+ Unpin`, lifetimes and
// `use<..>`)". Shapes the earlier pass cases do not combine.
use pooled::Rejected;
use std::future::Future;
use std::pin::Pin;

#[pooled::pooled(order = "priority")]
async fn mutable_weight(#[weight] mut urgency: i64) -> i64 {
    urgency += 1;
    urgency
}

#[pooled::pooled(size = 1)]
fn generic_error<E: From<Rejected>>(n: u32) -> std::result::Result<u32, E> {
    Ok(n)
}

#[pooled::pooled(size = 1)]
fn borrowed_future<'a>(text: &'a str) -> impl Future<Output = usize> + Send + 'a {
    async move { text.len() }
}

#[pooled::pooled(size = 1)]
fn captured_future<'a>(text: &'a str) -> impl Future<Output = usize> + use<'a> {
    async move { text.len() }
}

#[pooled::pooled(size = 1)]
fn unpin_future(n: u32) -> impl Future<Output = u32> + Unpin {
    std::future::ready(n)
}

#[pooled::pooled(size = 1)]
fn const_generic<const N: usize>(bytes: [u8; N]) -> usize {
    bytes.len() + N
}

#[pooled::pooled(size = 1)]
pub(crate) async unsafe fn unsafe_async(ptr: *const u32) -> u32 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *ptr }
}

struct Wrapper<T>(T);

impl<T: Send + Sync + Copy + Into<u64>> Wrapper<T> {
    #[pooled::pooled(size = 1)]
    async fn get(&self) -> u64 {
        self.0.into()
    }

    #[pooled::pooled(size = 1)]
    fn boxed<'a>(&'a self) -> Pin<Box<dyn Future<Output = std::io::Result<u64>> + Send + 'a>> {
        Box::pin(async move { Ok(self.0.into()) })
    }
}

fn main() {
    futures::executor::block_on(async {
        assert_eq!(mutable_weight(4).await, 5);
        assert_eq!(generic_error::<Rejected>(3), Ok(3));
        assert_eq!(generic_error::<std::io::Error>(3).unwrap(), 3);
        GENERIC_ERROR_POOL.pause();
        assert_eq!(generic_error::<Rejected>(3), Err(Rejected::Paused));
        GENERIC_ERROR_POOL.resume();
        let owned = String::from("abc");
        assert_eq!(borrowed_future(&owned).await, 3);
        assert_eq!(captured_future(&owned).await, 3);
        assert_eq!(unpin_future(2).await, 2);
        assert_eq!(const_generic([1, 2, 3]), 6);
        let x = 7;
        // SAFETY: a valid pointer to a live local.
        assert_eq!(unsafe { unsafe_async(&x).await }, 7);
        assert_eq!(Wrapper(1u8).get().await, 1);
        assert_eq!(Wrapper(2u16).get().await, 2);
        assert_eq!(Wrapper(3u32).boxed().await.unwrap(), 3);
    });
    // "A generic function, or a method of a generic `impl`, has one pool for
    // all its instantiations."
    assert!(std::ptr::eq(Wrapper::<u8>::GET_POOL, Wrapper::<u16>::GET_POOL));
    assert_eq!(Wrapper::<u8>::GET_POOL.stats().completed, 2);
    assert_eq!(BORROWED_FUTURE_POOL.stats().completed, 1);
    assert_eq!(UNPIN_FUTURE_POOL.stats().completed, 1);
}
