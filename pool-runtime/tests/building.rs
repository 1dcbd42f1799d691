//! Bad settings are error values with clear messages, never panics; and the
//! public types are `Send`/`Sync` where they should be.

use pool_runtime::{BuildError, Kind, Pool, Stats, Submit, MAX_SLOTS};
use std::time::Duration;

#[test]
fn each_impossible_setting_is_a_clear_error() {
    let autoscale = || Pool::builder().kind(Kind::Autoscale);
    let cases = [
        (
            Pool::builder().size(0).build().err(),
            BuildError::ZeroSize,
            "a fixed pool needs `size` >= 1",
        ),
        (
            autoscale().min(5).max(2).build().err(),
            BuildError::MinAboveMax { min: 5, max: 2 },
            "`min` (5) is greater than `max` (2)",
        ),
        (
            autoscale().min(0).max(0).build().err(),
            BuildError::ZeroMax,
            "an autoscaled pool needs `max` >= 1",
        ),
        (
            autoscale().min(1).max(4).size(9).build().err(),
            BuildError::SizeOutsideBounds {
                size: 9,
                min: 1,
                max: 4,
            },
            "`size` (9) is outside `min..=max` (1..=4)",
        ),
        (
            Pool::builder().size(MAX_SLOTS + 1).build().err(),
            BuildError::TooLarge {
                value: MAX_SLOTS + 1,
            },
            "slot count 1073741824 is above the maximum of 1073741823",
        ),
        (
            Pool::builder().max(4).build().err(),
            BuildError::BoundsOnFixedPool,
            "`min`/`max` apply to autoscaled pools; a fixed pool takes `size`",
        ),
        (
            autoscale().autoscale_window(0).build().err(),
            BuildError::ZeroWindow,
            "the autoscale window must be at least 1 sample",
        ),
        (
            autoscale().autoscale_interval(Duration::ZERO).build().err(),
            BuildError::ZeroInterval,
            "the autoscale interval must be longer than zero",
        ),
    ];
    for (got, expected, message) in cases {
        assert_eq!(got.as_ref(), Some(&expected));
        assert_eq!(expected.to_string(), message);
    }
}

#[test]
fn seed_defaults_apply() {
    assert_eq!(Pool::default().size(), 3);
    let auto = Pool::builder().kind(Kind::Autoscale).build().unwrap();
    assert_eq!((auto.size(), auto.bounds()), (3, (3, 8)));
    assert_eq!(
        Pool::fixed(0).size(),
        1,
        "the shortcut clamps instead of failing"
    );
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Pool>();
    send_sync::<Stats>();
    send_sync::<pool_runtime::Group>();
    send::<Submit<'static, std::future::Ready<()>>>();
    send_sync::<Submit<'static, std::future::Ready<()>>>();
}

#[test]
fn a_missing_bound_is_completed_by_the_one_rule_the_attribute_follows_too() {
    // `min` defaults to 3, or `max` if smaller; `max` to `min + 5`
    // (pool_settings::limits::autoscale_bounds, which `#[pooled]` calls too).
    let autoscaled = || Pool::builder().kind(pool_runtime::Kind::Autoscale);
    assert_eq!(autoscaled().max(2).build().unwrap().bounds(), (2, 2));
    assert_eq!(autoscaled().max(40).build().unwrap().bounds(), (3, 40));
    assert_eq!(autoscaled().min(10).build().unwrap().bounds(), (10, 15));
    assert_eq!(autoscaled().build().unwrap().bounds(), (3, 8));
}

/// A fleet limit in a build without the `redis` feature is refused
/// whatever its value, with an error naming the setting and the feature
/// and carrying no empty value (it was `Unavailable { value: "" }`), by the
/// builder, the settings' check and a configuration load alike.
#[cfg(not(feature = "redis"))]
#[test]
fn a_fleet_limit_without_the_redis_feature_names_the_setting_and_the_feature() {
    use pool_runtime::GroupSettings;
    let settings = GroupSettings::DEFAULT
        .fleet_limit(4)
        .fleet_url("redis://127.0.0.1:1");
    let expected = BuildError::NeedsFeature {
        setting: "fleet_limit",
        feature: "redis",
    };
    assert_eq!(settings.check().unwrap_err(), expected);
    assert_eq!(
        Pool::builder().settings(settings).build().err(),
        Some(expected.clone())
    );
    assert_eq!(
        expected.to_string(),
        "`fleet_limit` needs the `redis` feature of `pooled`, which this build does not have"
    );
    // (Not under Miri, which cannot read the link-time registry of groups.)
    #[cfg(all(feature = "config", not(miri)))]
    {
        use pool_runtime::{register_group, Group, GroupSpec};
        static FLEETLESS: Group = Group::new(GroupSpec::new("building::fleetless"));
        register_group!(FLEETLESS);
        let e = pool_runtime::config::load_str(
            "app.toml",
            "[groups.\"building::fleetless\"]\nfleet_limit = 4\nfleet_url = \"redis://127.0.0.1:1\"\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("app.toml:2:15: group `building::fleetless`: {expected}")
        );
        pool_runtime::config::clear();
    }
}
