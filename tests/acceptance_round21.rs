//! Acceptance tests of the facade, round 21: the adaptive policy's
//! parameters given by the attribute and by configuration, and the bounds a
//! load checks them against, in a binary where the attribute declares no
//! adaptive group.
#![cfg(feature = "config")]

mod common;

use common::config_turn;
use pooled::config;
use pooled::{AdaptiveSettings, ScalePolicy};

#[pooled::pooled(size = 2, name = "r21::fixed")]
fn fixed() -> u32 {
    1
}

#[pooled::pooled(kind = "autoscale", min = 1, max = 8, name = "r21::queue_depth")]
async fn queue_depth() -> u32 {
    2
}

/// README, "Configuration": "Every value is checked against the builder's
/// own bounds (`PoolBuilder::build`)"; "Bad input": "adaptive parameters
/// outside their ranges (... the fractions `SMOOTHING`, `BACKOFF`,
/// `DROP_TOLERANCE` within 0..=1; NaN nowhere). A configuration load fails
/// on the same bounds". No group of this binary is declared adaptive. The
/// control: `[defaults]` making the autoscaled group adaptive, with
/// `adaptive_smoothing = 7`, is refused at the value. Without the
/// `[defaults]` policy the same value is accepted, though it is outside the
/// builder's bounds — even when the group's own table makes it adaptive (the
/// value is then dropped, not checked).
#[test]
fn an_out_of_range_adaptive_default_is_refused_whichever_groups_are_adaptive() {
    let _turn = config_turn();
    let at = |line, column| {
        Some(config::Origin::File {
            path: "r21.toml".into(),
            line,
            column,
        })
    };
    // The control: a group adaptive at `[defaults]` takes the value: refused.
    let err = config::load_str(
        "r21.toml",
        "[defaults]\nadaptive_smoothing = 7\npolicy = \"adaptive\"\n",
    )
    .unwrap_err();
    assert_eq!(err.origin().cloned(), at(2, 22), "{err}");

    // No adaptive group.
    let none_adaptive = config::load_str("r21.toml", "[defaults]\nadaptive_smoothing = 7\n");
    config::clear();
    // A group made adaptive by its own table.
    let made_adaptive = config::load_str(
        "r21.toml",
        "[defaults]\nadaptive_smoothing = 7\n\n\
         [groups.\"r21::queue_depth\"]\npolicy = \"adaptive\"\n",
    );
    config::clear();
    assert_eq!(
        none_adaptive
            .as_ref()
            .err()
            .and_then(|e| e.origin().cloned()),
        at(2, 22),
        "no adaptive group: {none_adaptive:?}"
    );
    assert_eq!(
        made_adaptive
            .as_ref()
            .err()
            .and_then(|e| e.origin().cloned()),
        at(2, 22),
        "a group its table makes adaptive: {made_adaptive:?}"
    );
}

/// The attribute's keys table: "The values are the defaults that
/// application-wide configuration may override at run time"; the
/// precedence of `pooled::config` (attribute < `[defaults]` < group table),
/// one setting at a time: an autoscaled `#[pooled]` group that `[defaults]`
/// makes adaptive, with a `[defaults]` parameter and another from its own
/// table, has both; `Group::settings` then gives "those applied to the
/// running pool": once the group has started, `config::clear` leaves the
/// policy it started with (a policy takes effect at the next start).
#[test]
fn adaptive_parameters_from_defaults_and_a_table_reach_an_attribute_group() {
    let _turn = config_turn();
    let params = |group: &pooled::Group| match group.settings().policy {
        ScalePolicy::Adaptive(params) => params,
        other => panic!("{}: not adaptive: {other:?}", group.name()),
    };
    assert_eq!(QUEUE_DEPTH_POOL.settings().policy, ScalePolicy::QueueDepth);
    config::load_str(
        "r21.toml",
        "[defaults]\npolicy = \"adaptive\"\nadaptive_backoff = 0.25\n\n\
         [groups.\"r21::queue_depth\"]\nadaptive_tolerance = 3.5\n",
    )
    .unwrap();
    let loaded = params(QUEUE_DEPTH_POOL);
    let outputs = futures::executor::block_on(queue_depth());
    let report = config::clear();
    assert_eq!(
        loaded,
        AdaptiveSettings {
            backoff: 0.25,
            tolerance: 3.5,
            ..AdaptiveSettings::DEFAULT
        }
    );
    assert_eq!((outputs, fixed()), (2, 1));
    assert_eq!(params(QUEUE_DEPTH_POOL), loaded, "{report}");
    assert!(
        report.changes.iter().any(|c| c.group == "r21::queue_depth"
            && c.setting == "policy"
            && c.effect == config::Effect::AtRestart),
        "{report}"
    );
}
