// pool-macros/src/lib.rs, `#[pooled::group]`: "Functions name the group by
// path (`group = crate::api::Payments`)"; "The struct is kept as written and
// gains an associated `POOL: &'static Group`, the group's handle, with the
// struct's visibility"; "Every group is registered at link time". A group
// named through `crate::`, `super::` and `self::` paths, one declared with
// derives and docs, and a group and its function declared inside a function
// body, all share their pool and are known to `pooled::groups()`.
mod api {
    /// Calls to the payments API.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    #[pooled::group(size = 2, name = "r32.payments")]
    pub struct Payments;

    pub mod calls {
        #[pooled::pooled(group = super::Payments)]
        pub async fn capture(id: u32) -> u32 {
            id
        }

        #[pooled::pooled(group = crate::api::Payments)]
        pub fn refund(id: u32) -> u32 {
            id
        }
    }

    #[pooled::pooled(group = self::Payments)]
    pub async fn void(id: u32) -> u32 {
        id
    }
}

fn in_a_block() -> u32 {
    #[pooled::group(size = 3, name = "r32.local")]
    struct Local;

    #[pooled::pooled(group = Local)]
    fn local(n: u32) -> u32 {
        n + 1
    }

    assert_eq!(Local::POOL.size(), 3);
    local(1)
}

fn main() {
    assert_eq!(api::Payments, api::Payments::default());
    futures::executor::block_on(async {
        assert_eq!(api::calls::capture(1).await + api::void(3).await, 4);
    });
    assert_eq!(api::calls::refund(2), 2);
    assert_eq!(api::Payments::POOL.stats().completed, 3);
    assert_eq!(api::Payments::POOL.name(), "r32.payments");
    let names: Vec<_> = pooled::groups().into_iter().map(|g| g.name).collect();
    assert!(names.contains(&"r32.local"), "registered before its first use: {names:?}");
    assert_eq!(in_a_block(), 2);
}
