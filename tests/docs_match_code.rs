//! The defaults the docs state are the code's (issue 10): a test reads the
//! attribute's documentation and fails when a stated default drifts from the
//! constant it describes.

use pooled::AdaptiveSettings;

/// The attribute's docs, as one line of prose (doc-comment prefixes and line
/// breaks folded).
fn attribute_docs() -> String {
    include_str!("../pool-macros/src/lib.rs")
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            line.strip_prefix("///")
                .or_else(|| line.strip_prefix("//!"))
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[track_caller]
fn states(docs: &str, phrase: &str) {
    assert!(docs.contains(phrase), "the docs should say: {phrase}");
}

#[test]
fn the_attribute_docs_state_the_adaptive_defaults_the_code_has() {
    let docs = attribute_docs();
    let d = AdaptiveSettings::DEFAULT;
    states(
        &docs,
        &format!(
            "windows of at least {} calls and {} ms and one round trip",
            d.window_samples,
            d.window_time.as_millis()
        ),
    );
    states(
        &docs,
        &format!("forgets over {} s", d.baseline_interval.as_secs()),
    );
    states(&docs, &format!("latency climbs past {} times", d.tolerance));
    states(&docs, &format!("at most to {}%", d.backoff * 100.0));
    states(
        &docs,
        &format!("more than {}% of the calls", d.drop_tolerance * 100.0),
    );
    assert_eq!(AdaptiveSettings::default(), d);
}

#[test]
fn the_attribute_docs_state_the_slot_defaults_the_code_has() {
    let docs = attribute_docs();
    // The defaults as the one check fills them in.
    let fixed = pooled::GroupSettings::DEFAULT;
    let (size, _) = fixed.check().unwrap();
    let autoscale = fixed.kind(pooled::Kind::Autoscale);
    let (_, (min, max)) = autoscale.check().unwrap();
    states(&docs, &format!("| `size` | integer ≥ 1 | {size} |"));
    states(
        &docs,
        &format!("| `min` | integer | {min}, or `max` if smaller |"),
    );
    states(
        &docs,
        &format!(
            "| `max` | integer ≥ 1, ≥ `min` | `min + {}` (at most `MAX_SLOTS`) |",
            max - min
        ),
    );
    let timing = pooled::AutoscaleTiming::DEFAULT;
    states(
        &docs,
        &format!(
            "| `autoscale_interval` | duration literal > 0 | `\"{}s\"` |",
            timing.interval.as_secs()
        ),
    );
    states(
        &docs,
        &format!(
            "| `autoscale_window` | integer, 1 to {} | {} |",
            pooled::AutoscaleTiming::MAX_WINDOW,
            timing.window
        ),
    );
    // The attribute itself follows the same rule (one function for both).
    #[pooled::pooled(kind = "autoscale", max = 2)]
    fn small() {}
    small();
    assert_eq!(SMALL_POOL.pool().bounds(), (2, 2));
}

/// Every setting key the attribute and configuration share
/// (`pool_settings::keys::SETTINGS`, which the attribute's parser and the
/// configuration both go through) has its row in the attribute's keys
/// table, and `#[pooled::group]`'s docs name it (a key added to the code
/// but not to the docs fails here).
#[test]
fn the_attribute_docs_list_every_setting_key() {
    let docs = attribute_docs();
    let keys = include_str!("../pool-settings/src/keys.rs");
    let list = keys
        .split_once("pub const SETTINGS: &[&str] = &[")
        .and_then(|(_, rest)| rest.split_once("];"))
        .map(|(list, _)| list)
        .expect("the SETTINGS list");
    let settings: Vec<&str> = list
        .split(',')
        .map(|key| key.trim().trim_matches('"'))
        .filter(|key| !key.is_empty())
        .collect();
    assert!(settings.len() >= 15, "{settings:?}");
    for key in &settings {
        states(&docs, &format!("| `{key}` |"));
    }
    let group = docs
        .split_once("It takes the pool keys of")
        .map(|(_, rest)| &rest[..rest.find("per-call keys").expect("the group's key list")])
        .expect("the group's key list");
    for key in settings {
        let named = group.contains(&format!("`{key}`"))
            || (key.starts_with("fleet_") && group.contains("`fleet_*`"));
        assert!(named, "#[pooled::group]'s docs should name `{key}`");
    }
}

/// The fleet keys' row states the lease default and range the code has.
#[test]
fn the_attribute_docs_state_the_fleet_lease_the_code_has() {
    use pooled::fleet::FleetSettings;
    let docs = attribute_docs();
    let (min, max) = (FleetSettings::MIN_LEASE, FleetSettings::MAX_LEASE);
    assert_eq!((min.as_millis(), max.as_secs()), (100, 24 * 60 * 60));
    states(
        &docs,
        &format!(
            "| `fleet_lease` | duration literal, 100 ms to 24 h | `\"{}s\"` |",
            FleetSettings::DEFAULT_LEASE.as_secs()
        ),
    );
}
