//! Sync functions returning a future, of every shape #[pooled] rebuilds: the
//! returned future holds the slot while it runs, keeps `Send` where it was
//! declared, and ordinary return types (a `Pin` projection, an alias) stay sync.

use std::future::Future;
use std::io;
use std::pin::Pin;

use futures::future::{BoxFuture, LocalBoxFuture};

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[pooled::pooled]
fn plain(n: u8) -> impl Future<Output = u8> {
    async move { n + 1 }
}

#[pooled::pooled(size = 2, admission_timeout = "1s")]
fn borrowed<'a>(text: &'a str) -> impl ::core::future::Future<Output = io::Result<usize>> + Send + 'a {
    async move { Ok(text.len()) }
}

#[pooled::pooled]
fn unpin(n: u8) -> impl Future<Output = u8> + Unpin {
    Box::pin(async move { n })
}

#[pooled::pooled]
fn captures<'a>(text: &'a str) -> impl Future<Output = &'a str> + use<'a> {
    async move { text.trim() }
}

#[pooled::pooled]
fn output_unsaid() -> impl Future {
    async {}
}

#[pooled::pooled(max_waiting = 8)]
fn early_return(flag: bool) -> Pin<Box<dyn Future<Output = Result<u8, io::Error>> + Send>> {
    if flag {
        return Box::pin(async { Ok(1) });
    }
    Box::pin(async { Err(io::Error::other("no")) })
}

#[pooled::pooled]
fn qualified() -> std::pin::Pin<std::boxed::Box<dyn std::future::Future<Output = ()> + 'static>> {
    Box::pin(async {})
}

#[pooled::pooled(wait)]
fn box_future<T: Send + 'static>(value: T) -> BoxFuture<'static, io::Result<T>>
where
    T: Clone,
{
    Box::pin(async move { Ok(value.clone()) })
}

#[pooled::pooled]
fn local(value: std::rc::Rc<u8>) -> LocalBoxFuture<'static, u8> {
    Box::pin(async move { *value })
}

#[pooled::group(order = "priority", kind = "autoscale", policy = "adaptive", max = 4)]
struct Api;

fn is_busy(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock
}

#[pooled::pooled(group = Api, overload = is_busy)]
fn judged(#[weight] urgency: i8) -> BoxFuture<'static, io::Result<i8>> {
    Box::pin(async move { Ok(urgency) })
}

#[pooled::pooled(order = "priority", weight = i64::from(*n))]
unsafe fn weighted(n: &u8) -> impl Future<Output = u8> + '_ {
    async move { *n }
}

struct Client {
    base: u32,
}

impl Client {
    #[pooled::pooled(size = 3)]
    fn get(&self, id: u32) -> Pin<Box<dyn Future<Output = u32> + Send + '_>> {
        Box::pin(async move { self.base + id })
    }

    #[pooled::pooled]
    fn owned(self: std::sync::Arc<Self>) -> impl Future<Output = u32> + Send {
        async move { self.base }
    }

    /// A pin projection is not a future: it stays an ordinary sync method.
    #[pooled::pooled]
    fn project(self: Pin<&mut Self>) -> Pin<&mut u32> {
        unsafe { self.map_unchecked_mut(|client| &mut client.base) }
    }
}

/// A future behind an alias is invisible to the macro: the function is taken
/// for an ordinary sync one (the documented limitation).
type Aliased = Pin<Box<dyn Future<Output = u8> + Send>>;

#[pooled::pooled]
fn aliased() -> Aliased {
    Box::pin(async { 9 })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(plain(1).await, 2);
    assert_eq!(assert_send(borrowed("abc")).await.unwrap(), 3);
    assert_eq!(unpin(4).await, 4);
    assert_eq!(captures(" x ").await, "x");
    output_unsaid().await;
    assert_eq!(assert_send(early_return(true)).await.unwrap(), 1);
    assert!(early_return(false).await.is_err());
    qualified().await;
    assert_eq!(assert_send(box_future(5_u8)).await.unwrap(), 5);
    assert_eq!(local(std::rc::Rc::new(6)).await, 6);
    assert_eq!(judged(-1).await.unwrap(), -1);
    assert_eq!(unsafe { weighted(&7) }.await, 7);
    let client = Client { base: 10 };
    assert_eq!(assert_send(client.get(1)).await, 11);
    let mut client = Client { base: 20 };
    *Pin::new(&mut client).project() += 1;
    assert_eq!(assert_send(std::sync::Arc::new(client).owned()).await, 21);
    assert_eq!(aliased().await, 9);
    assert_eq!(PLAIN_POOL.stats().completed, 1);
    assert_eq!(Client::GET_POOL.stats().completed, 1);
}
