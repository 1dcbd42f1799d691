//! The handles `#[pooled]` generates (`<FN>_POOL` next to a free function,
//! `Self::<FN>_POOL` next to a method, `<Marker>::POOL` for a declared group)
//! and the stable names of their groups.

use pooled::{Kind, Order, Rejected};

#[pooled::pooled(size = 2)]
fn work(n: u32) -> Result<u32, Rejected> {
    Ok(n)
}

#[test]
fn a_free_functions_handle_scales_resizes_pauses_and_reports() {
    assert_eq!(WORK_POOL.size(), 2);
    assert_eq!(WORK_POOL.scale(3), 5);
    assert_eq!(WORK_POOL.scale(-1), 4);
    assert_eq!(WORK_POOL.resize(1), 1);
    assert_eq!(WORK_POOL.stats().size, 1);
    assert_eq!(work(1), Ok(1));
    WORK_POOL.pause();
    assert!(WORK_POOL.is_paused());
    assert_eq!(work(2), Err(Rejected::Paused));
    WORK_POOL.resume();
    assert!(!WORK_POOL.is_paused());
    assert_eq!(work(3), Ok(3));
    let stats = WORK_POOL.stats();
    assert_eq!(
        (stats.completed, stats.rejected_for(Rejected::Paused)),
        (2, 1)
    );
    assert!(
        std::ptr::eq(WORK_POOL.pool(), WORK_POOL.pool()),
        "one lazily built pool"
    );
}

#[pooled::pooled(kind = "autoscale", order = "lifo", min = 2, max = 4)]
async fn elastic() {}

#[test]
fn an_autoscale_handle_scales_within_its_bounds() {
    let spec = ELASTIC_POOL.spec().settings();
    assert_eq!(
        (spec.kind, spec.order, spec.min, spec.max),
        (Kind::Autoscale, Order::Lifo, Some(2), Some(4))
    );
    assert_eq!(ELASTIC_POOL.scale(10), 4);
    assert_eq!(ELASTIC_POOL.scale(-10), 2);
    futures::executor::block_on(elastic());
    assert_eq!(ELASTIC_POOL.stats().completed, 1);
}

struct Client;

impl Client {
    #[pooled::pooled(size = 3)]
    async fn get(&self) -> u8 {
        1
    }

    #[pooled::pooled(size = 4)]
    fn post(&self) -> u8 {
        2
    }
}

#[test]
fn each_method_has_its_own_associated_handle() {
    assert_eq!(futures::executor::block_on(Client.get()), 1);
    assert_eq!(Client.post(), 2);
    assert_eq!((Client::GET_POOL.size(), Client::POST_POOL.size()), (3, 4));
    assert!(!std::ptr::eq(Client::GET_POOL, Client::POST_POOL));
    Client::POST_POOL.pause();
    assert!(Client::POST_POOL.is_paused() && !Client::GET_POOL.is_paused());
    Client::POST_POOL.resume();
}

/// The API's priority group.
#[pooled::group(order = "priority", size = 2)]
pub struct Api;

#[pooled::group(name = "billing")]
struct Billing;

#[pooled::pooled(group = Api, weight = 1)]
fn api_call() -> u8 {
    3
}

#[test]
fn a_declared_group_has_one_handle_for_all_its_functions() {
    assert_eq!(api_call(), 3);
    assert_eq!(Api::POOL.stats().completed, 1);
    assert_eq!(
        (Api::POOL.spec().settings().order, Api::POOL.size()),
        (Order::Priority, 2)
    );
    assert_eq!(Billing::POOL.name(), "billing");
}

mod nested {
    #[pooled::pooled]
    pub fn deep() {}

    #[pooled::pooled(name = "reports.export")]
    pub fn export() {}
}

#[test]
fn groups_have_stable_names() {
    assert_eq!(WORK_POOL.name(), "macro_handles::work");
    assert_eq!(ELASTIC_POOL.name(), "macro_handles::elastic");
    assert_eq!(nested::DEEP_POOL.name(), "macro_handles::nested::deep");
    assert_eq!(nested::EXPORT_POOL.name(), "reports.export");
    assert_eq!(Api::POOL.name(), "macro_handles::Api");
    // A method's group is named after the method (the attribute cannot see the
    // `impl`'s type); give `name = ".."` where two types share a method name.
    assert_eq!(Client::GET_POOL.name(), "macro_handles::get");
    nested::deep();
    nested::export();
}

#[pooled::pooled(size = 7)]
#[allow(dead_code)]
fn never_called() {}

#[test]
fn every_group_is_registered_before_its_first_call() {
    let names: Vec<&str> = pooled::registered_groups()
        .map(pooled::Group::name)
        .collect();
    for name in [
        "macro_handles::never_called",
        "macro_handles::post",
        "macro_handles::Api",
        "billing",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(!NEVER_CALLED_POOL.is_started(), "listing starts nothing");
}
