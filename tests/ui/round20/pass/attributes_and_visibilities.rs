// pool-macros/src/lib.rs:157-158, 211-212, 514-515: a handle has its
// function's visibility (a method's handle is `pub(self)` unless the method
// has a visibility of its own), and other attributes keep working.
#![deny(warnings)]

mod client {
    pub struct Client;

    impl Client {
        #[pooled::pooled(size = 2)]
        pub(crate) fn get(&self) -> u32 {
            1
        }

        #[pooled::pooled(size = 3)]
        pub fn put(&self) -> u32 {
            2
        }
    }

    #[pooled::pooled(size = 4)]
    pub(crate) fn free() -> u32 {
        3
    }
}

#[deprecated(note = "use fetch_v2")]
#[pooled::pooled(size = 2)]
fn fetch() -> u32 {
    1
}

#[inline(never)]
#[pooled::pooled(size = 2)]
#[allow(clippy::needless_return)]
fn inlined() -> u32 {
    return 5;
}

fn main() {
    assert_eq!(client::Client.get(), 1);
    assert_eq!(client::Client.put(), 2);
    assert_eq!(client::free(), 3);
    assert_eq!(client::Client::GET_POOL.size(), 2);
    assert_eq!(client::Client::PUT_POOL.size(), 3);
    assert_eq!(client::FREE_POOL.size(), 4);
    assert_eq!(FETCH_POOL.size(), 2); // naming the handle is not a deprecated use
    #[allow(deprecated)]
    let one = fetch();
    assert_eq!(one, 1);
    assert_eq!(inlined(), 5);
    assert_eq!(INLINED_POOL.stats().completed, 1);
}
