//! Hygiene: expansions name only `::pooled::__private` and `::core` paths, so
//! local `core`, `std` and `pooled` modules, shadowed prelude names and a module
//! without the prelude change nothing, and user names equal to the generated
//! locals neither clash with them nor see them.

#![allow(dead_code, non_camel_case_types, clippy::all)]

/// Shadows the `core` crate for relative paths.
mod core {}
/// Shadows the `std` crate for relative paths.
mod std {}

mod shadowed_prelude {
    // Names the expansion must not pick up from the call site.
    pub enum Result<T> {
        Fine(T),
    }
    pub struct Ok;
    pub struct Err;
    pub struct Some;
    pub struct None;
    pub trait From {}
    pub type i64 = u8;
    pub static GROUP: u8 = 0;
    pub const POOLED_GROUP: u8 = 0;

    /// A local `pooled` module: the attribute is named by its absolute path.
    mod pooled {}

    #[::pooled::group(order = "priority", size = 1)]
    pub struct Ranked;

    #[::pooled::pooled(order = "priority", size = 1)]
    pub fn weighted(#[weight] pooled_weight: i64, pooled_ret: u32) -> u32 {
        let pooled_value = pooled_ret + u32::from(pooled_weight);
        let pooled_rejected = GROUP + POOLED_GROUP;
        pooled_value + u32::from(pooled_rejected)
    }

    #[::pooled::pooled(group = Ranked, weight = 2)]
    pub fn in_group(x: u32) -> ::core::result::Result<u32, ::pooled::Rejected> {
        ::core::result::Result::Ok(x + u32::from(POOLED_GROUP) + u32::from(GROUP))
    }

    pub struct Verdict;

    pub fn is_overloaded(pooled_error: &::pooled::Rejected) -> bool {
        ::core::matches!(pooled_error, ::pooled::Rejected::Full)
    }

    #[::pooled::pooled(kind = "autoscale", policy = "adaptive", overload = is_overloaded)]
    pub async fn judged(x: u32) -> ::core::result::Result<u32, ::pooled::Rejected> {
        let pooled_out = x;
        let pooled_error = GROUP;
        ::core::result::Result::Ok(pooled_out + u32::from(pooled_error))
    }

    /// Shadows the prelude's `Box`, which the expansion of a boxed future uses.
    pub struct Box;

    /// A boxed future, with an argument named like the expansion's local.
    #[::pooled::pooled(size = 1, max_waiting = 8)]
    pub fn returns_future(
        pooled_future: u32,
    ) -> ::core::pin::Pin<
        ::std::boxed::Box<
            dyn ::core::future::Future<Output = ::core::result::Result<u32, ::pooled::Rejected>>
                + Send,
        >,
    > {
        let _ = Box;
        ::std::boxed::Box::pin(async move {
            ::core::result::Result::Ok(pooled_future + u32::from(GROUP))
        })
    }

    /// A type of its own named `Result`: `wait` says it cannot carry a rejection.
    #[::pooled::pooled(wait)]
    pub async fn shadowed_result(x: u32) -> Result<u32> {
        Result::Fine(x)
    }
}

#[no_implicit_prelude]
mod without_prelude {
    #[::pooled::pooled(size = 2, admission_timeout = "1s")]
    pub fn checked(x: u32) -> ::core::result::Result<u32, ::pooled::Rejected> {
        ::core::result::Result::Ok(x + 1)
    }

    #[::pooled::pooled(order = "priority")]
    pub async fn weighted(#[weight] urgency: u128) -> ::std::string::String {
        ::std::format!("{urgency}")
    }

    fn busy(error: &::pooled::Rejected) -> bool {
        *error == ::pooled::Rejected::Full
    }

    #[::pooled::pooled(kind = "autoscale", policy = "adaptive", overload = busy)]
    pub async fn judged(x: u32) -> ::core::result::Result<u32, ::pooled::Rejected> {
        ::core::result::Result::Ok(x)
    }

    #[::pooled::pooled(blocking, order = "priority", weight = -1)]
    pub fn blocking(x: u64) -> ::core::option::Option<u64> {
        ::core::option::Option::Some(x)
    }

    #[::pooled::pooled(size = 1, max_waiting = 8)]
    pub fn returns_future(
        x: u32,
    ) -> impl ::core::future::Future<Output = ::core::result::Result<u32, ::pooled::Rejected>>
           + ::core::marker::Unpin {
        ::std::boxed::Box::pin(async move { ::core::result::Result::Ok(x) })
    }
}

#[test]
fn expansions_ignore_local_modules_and_shadowed_names() {
    assert_eq!(shadowed_prelude::weighted(2, 3), 5);
    assert_eq!(shadowed_prelude::in_group(4), Ok(4));
    let shadowed_prelude::Result::Fine(x) =
        futures::executor::block_on(shadowed_prelude::shadowed_result(6));
    assert_eq!(x, 6);
    assert_eq!(
        futures::executor::block_on(shadowed_prelude::judged(8)),
        Ok(8)
    );
    assert_eq!(
        futures::executor::block_on(shadowed_prelude::returns_future(9)),
        Ok(9)
    );
}

#[test]
fn expansions_need_no_prelude() {
    assert_eq!(without_prelude::checked(1), Ok(2));
    assert_eq!(
        futures::executor::block_on(without_prelude::weighted(u128::MAX)),
        u128::MAX.to_string()
    );
    assert_eq!(
        futures::executor::block_on(without_prelude::judged(9)),
        Ok(9)
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(runtime.block_on(without_prelude::blocking(7)), Some(7));
    assert_eq!(
        futures::executor::block_on(without_prelude::returns_future(3)),
        Ok(3)
    );
}

/// Constants a user happens to name like anything an expansion could bind.
#[allow(non_upper_case_globals, dead_code)]
mod shadowing_constants {
    const pooled_out: u8 = 0;
    const pooled_error: u8 = 0;
    const out: u8 = 0;
    const error: u8 = 0;
    const pooled_ret: u8 = 0;

    #[derive(Debug)]
    pub struct Busy;

    impl From<pooled::Rejected> for Busy {
        fn from(_: pooled::Rejected) -> Self {
            Busy
        }
    }

    fn is_busy(_: &Busy) -> bool {
        true
    }

    #[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 2, overload = is_busy)]
    pub async fn judged(fail: bool) -> Result<u8, Busy> {
        if fail {
            Err(Busy)
        } else {
            Ok(7)
        }
    }
}

#[test]
fn user_constants_cannot_shadow_the_expansions_bindings() {
    assert_eq!(
        futures::executor::block_on(shadowing_constants::judged(false)).unwrap(),
        7
    );
    assert!(futures::executor::block_on(shadowing_constants::judged(true)).is_err());
}
