//! Parsing single setting values (shared by the file and the environment).

use super::error::ConfigError;
use super::layer::{Origin, Overrides, PolicyName, Val};
use crate::admission::state::MAX_SLOTS;
use crate::fleet::OnUnreachable;
use crate::pool::order::{ExecutorKind, Kind, Order};
use pool_settings::duration;
use std::time::Duration;

/// What a setting's value is, for a file (which types TOML values) and for
/// messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// A name from a list (`kind`, `order`, `policy`): a string.
    Word,
    /// A whole number.
    Count,
    /// A duration literal: a string such as `"500ms"`.
    Duration,
    /// A number (integer or float).
    Number,
}

/// Every group setting configuration knows, by its name in the environment
/// (`POOLED_<GROUP>_<NAME>`); the file's key is the same name in lower case.
/// The one list the file, the environment and their messages go through.
pub(crate) const SETTINGS: &[(&str, ValueKind)] = &[
    ("KIND", ValueKind::Word),
    ("ORDER", ValueKind::Word),
    ("SIZE", ValueKind::Count),
    ("MIN", ValueKind::Count),
    ("MAX", ValueKind::Count),
    ("MAX_WAITING", ValueKind::Count),
    ("ADMISSION_TIMEOUT", ValueKind::Duration),
    ("SYNC_BARGING", ValueKind::Duration),
    ("AUTOSCALE_INTERVAL", ValueKind::Duration),
    ("AUTOSCALE_WINDOW", ValueKind::Count),
    ("POLICY", ValueKind::Word),
    ("EXECUTOR", ValueKind::Word),
    ("FLEET_LIMIT", ValueKind::Count),
    ("FLEET_URL", ValueKind::Word),
    ("FLEET_LEASE", ValueKind::Duration),
    ("FLEET_UNREACHABLE", ValueKind::Word),
    ("ADAPTIVE_WINDOW_SAMPLES", ValueKind::Count),
    ("ADAPTIVE_WINDOW_TIME", ValueKind::Duration),
    ("ADAPTIVE_TOLERANCE", ValueKind::Number),
    ("ADAPTIVE_SMOOTHING", ValueKind::Number),
    ("ADAPTIVE_BASELINE_INTERVAL", ValueKind::Duration),
    ("ADAPTIVE_BACKOFF", ValueKind::Number),
    ("ADAPTIVE_DROP_TOLERANCE", ValueKind::Number),
];

/// The settings whose value may be the word [`NONE`]: optional bounds, which
/// a layer removes by saying so (a stronger layer, or configuration over the
/// attribute's declared value). In a file the word is a string (`"none"`)
/// whatever type the setting's values otherwise have.
pub(crate) const UNSETTABLE: &[&str] = &["MAX_WAITING", "ADMISSION_TIMEOUT"];

/// The word that removes an optional bound (see [`UNSETTABLE`]); also how
/// reports show an unset one.
pub(crate) const NONE: &str = "none";

/// `parse(text)`, or no value for the word [`NONE`] if `setting` is one of
/// [`UNSETTABLE`] (the list the file's typing goes by too).
fn unsettable<T>(
    setting: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if text.trim() == NONE && UNSETTABLE.contains(&setting) {
        return Ok(None);
    }
    parse(text)
        .map(Some)
        .map_err(|message| format!("{message}; or `{NONE}` for no bound"))
}

/// The setting names, in the environment's form.
pub(crate) fn setting_names() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|(name, _)| *name)
}

/// A number: its range is checked with the other settings
/// (`AdaptiveSettings::validate`), which names it.
fn number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| format!("invalid value `{text}`: expected a number"))
}

/// A slot count or bound: a whole number in `0..=MAX_SLOTS`.
pub(crate) fn size(text: &str) -> Result<usize, String> {
    whole(text, 0, MAX_SLOTS)
}

/// The application-wide ceiling: a whole number in `1..=MAX_SLOTS` (a
/// ceiling of 0 would admit no call at all, in any group).
pub(crate) fn ceiling(text: &str) -> Result<usize, String> {
    whole(text, 1, MAX_SLOTS).map_err(|message| {
        format!("{message} (a ceiling of 0 would admit nothing; leave it out for no ceiling)")
    })
}

/// A whole number in `least..=most`.
fn whole(text: &str, least: usize, most: usize) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (least..=most).contains(n))
        .ok_or_else(|| {
            format!("invalid value `{text}`: expected a whole number from {least} to {most}")
        })
}

/// A count whose range is checked with the other settings: any whole number
/// parses, and text that is none is an error naming the setting's own range
/// (`expected`), not `usize`'s.
fn count(text: &str, expected: impl FnOnce() -> String) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .map_err(|_| format!("invalid value `{text}`: expected {}", expected()))
}

/// A duration literal such as `"500ms"` or `"2s"`.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    duration::parse_nanos(text)
        .map(Duration::from_nanos)
        .map_err(|why| format!("invalid duration `{text}`: {why}; {}", duration::ACCEPTED))
}

/// Sets `setting` (upper-case name, as in the environment) from `text`.
pub(crate) fn setting(
    overrides: &mut Overrides,
    setting: &str,
    text: &str,
    origin: Origin,
) -> Result<(), ConfigError> {
    fn val<T>(parsed: Result<T, String>, origin: Origin) -> Result<Option<Val<T>>, ConfigError> {
        match parsed {
            Ok(value) => Ok(Some(Val { value, origin })),
            Err(message) => Err(ConfigError::at(origin, message)),
        }
    }
    let choice = |expected: &[&str]| {
        format!(
            "invalid value `{text}`: expected one of {}",
            quoted(expected)
        )
    };
    match setting {
        "KIND" => {
            overrides.kind = val(
                text.parse::<Kind>().map_err(|_| choice(Kind::CHOICES)),
                origin,
            )?
        }
        "ORDER" => {
            overrides.order = val(
                text.parse::<Order>().map_err(|_| choice(Order::CHOICES)),
                origin,
            )?
        }
        "SIZE" => overrides.size = val(size(text), origin)?,
        "MIN" => overrides.min = val(size(text), origin)?,
        "MAX" => overrides.max = val(size(text), origin)?,
        // Optional bounds (`UNSETTABLE`): `none` removes one.
        "MAX_WAITING" => overrides.max_waiting = val(unsettable(setting, text, size), origin)?,
        "ADMISSION_TIMEOUT" => {
            overrides.admission_timeout = val(unsettable(setting, text, duration), origin)?
        }
        // A zero bound is off, as on the builder.
        "SYNC_BARGING" => overrides.sync_barging = val(duration(text), origin)?,
        "AUTOSCALE_INTERVAL" => overrides.autoscale_interval = val(duration(text), origin)?,
        // Any count parses; its bound is checked with the other settings
        // (`AutoscaleTiming::validate`), which names it.
        "AUTOSCALE_WINDOW" => {
            let window = count(text, || {
                format!(
                    "1 to {} samples (AutoscaleTiming::MAX_WINDOW)",
                    crate::AutoscaleTiming::MAX_WINDOW
                )
            });
            overrides.autoscale_window = val(window, origin)?;
        }
        "EXECUTOR" => {
            overrides.executor = val(
                text.parse::<ExecutorKind>()
                    .map_err(|_| choice(ExecutorKind::CHOICES)),
                origin,
            )?
        }
        // Any count parses; its range is checked with the other settings.
        "FLEET_LIMIT" => {
            let limit = count(text, || format!("1 to {MAX_SLOTS} (MAX_SLOTS)"));
            overrides.fleet_limit = val(limit, origin)?;
        }
        "FLEET_URL" => overrides.fleet_url = val(Ok(crate::fleet::intern(text.trim())), origin)?,
        "FLEET_LEASE" => overrides.fleet_lease = val(duration(text), origin)?,
        "FLEET_UNREACHABLE" => {
            overrides.fleet_unreachable = val(
                text.parse::<OnUnreachable>()
                    .map_err(|_| choice(OnUnreachable::CHOICES)),
                origin,
            )?
        }
        "POLICY" => {
            let parsed = PolicyName::parse(text).ok_or_else(|| choice(PolicyName::CHOICES));
            overrides.policy = val(parsed, origin)?;
        }
        // Any count parses; its range is checked with the other settings.
        "ADAPTIVE_WINDOW_SAMPLES" => {
            // (One past `u32` cannot be the count given: say the range.)
            let expected = || {
                format!(
                    "invalid value `{text}`: expected {}",
                    pool_settings::adaptive::expected_calls()
                )
            };
            let samples = text.trim().parse::<u32>().map_err(|_| expected());
            overrides.adaptive.window_samples = val(samples, origin)?;
        }
        "ADAPTIVE_WINDOW_TIME" => overrides.adaptive.window_time = val(duration(text), origin)?,
        "ADAPTIVE_TOLERANCE" => overrides.adaptive.tolerance = val(number(text), origin)?,
        "ADAPTIVE_SMOOTHING" => overrides.adaptive.smoothing = val(number(text), origin)?,
        "ADAPTIVE_BASELINE_INTERVAL" => {
            overrides.adaptive.baseline_interval = val(duration(text), origin)?
        }
        "ADAPTIVE_BACKOFF" => overrides.adaptive.backoff = val(number(text), origin)?,
        "ADAPTIVE_DROP_TOLERANCE" => overrides.adaptive.drop_tolerance = val(number(text), origin)?,
        other => unreachable!("unknown setting {other}"),
    }
    Ok(())
}

pub(crate) fn quoted(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pool_settings::adaptive::{Takes, PARAMETERS};

    /// The group settings are named once, in `pool_settings::keys` (which
    /// the attribute reads): configuration's table names each the same way
    /// (upper case), in the same order, before the adaptive parameters.
    #[test]
    fn the_setting_keys_are_the_shared_list() {
        let table: Vec<String> = SETTINGS
            .iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .filter(|name| !name.starts_with("adaptive_"))
            .collect();
        assert_eq!(table, pool_settings::keys::SETTINGS);
    }

    /// `none` removes exactly the settings listed as unsettable, and no
    /// other takes the word (a fleet URL takes any text: it is a URL).
    #[test]
    fn none_is_taken_by_the_optional_bounds_only() {
        for (name, _) in SETTINGS {
            let mut overrides = Overrides::default();
            let origin = Origin::Env {
                var: (*name).into(),
            };
            let taken = setting(&mut overrides, name, NONE, origin).is_ok();
            let expected = UNSETTABLE.contains(name) || *name == "FLEET_URL";
            assert_eq!(taken, expected, "{name}");
        }
        let mut overrides = Overrides::default();
        for name in UNSETTABLE {
            let origin = Origin::Env {
                var: (*name).into(),
            };
            setting(&mut overrides, name, " none ", origin).unwrap();
        }
        assert_eq!(overrides.max_waiting.map(|v| v.value), Some(None));
        assert_eq!(overrides.admission_timeout.map(|v| v.value), Some(None));
    }

    /// The adaptive parameters are listed once in `pool_settings::adaptive`
    /// (which the attribute reads); configuration's table must name each the
    /// same way, with the same kind of value, and no other.
    #[test]
    fn the_adaptive_keys_are_the_shared_parameters() {
        let table: Vec<(String, ValueKind)> = SETTINGS
            .iter()
            .filter_map(|(name, kind)| {
                let parameter = name.strip_prefix("ADAPTIVE_")?;
                Some((parameter.to_ascii_lowercase(), *kind))
            })
            .collect();
        let shared: Vec<(String, ValueKind)> = PARAMETERS
            .iter()
            .map(|(name, takes)| {
                let kind = match takes {
                    Takes::Calls => ValueKind::Count,
                    Takes::Duration => ValueKind::Duration,
                    Takes::Number => ValueKind::Number,
                };
                ((*name).to_owned(), kind)
            })
            .collect();
        assert_eq!(table, shared);
        for (name, _) in SETTINGS.iter().filter(|(n, _)| n.starts_with("ADAPTIVE_")) {
            let mut overrides = Overrides::default();
            let origin = Origin::Env {
                var: (*name).into(),
            };
            let value = match SETTINGS.iter().find(|(n, _)| n == name).unwrap().1 {
                ValueKind::Duration => "1s",
                _ => "1",
            };
            setting(&mut overrides, name, value, origin).unwrap();
            assert_ne!(overrides.adaptive, Default::default(), "{name} is applied");
        }
    }
}
