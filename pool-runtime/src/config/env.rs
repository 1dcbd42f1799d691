//! Environment overrides: `POOLED_<GROUP>_<SETTING>=value`, `POOLED_CEILING`,
//! and `POOLED_CONFIG` (the file read at first use).
//!
//! Group names are mangled into variable names by upper-casing ASCII letters,
//! turning each `::` into `__` and every other character that is not an ASCII
//! letter or digit into `_`: the group `billing::api::fetch` is tuned by
//! `POOLED_BILLING__API__FETCH_MAX=32`.
//!
//! A `POOLED_*` variable that does not end in a setting's name
//! (`POOLED_DB_URL`) is not meant for a group: it is ignored, with a warning
//! through the `log` facade. One that does but names no known group (a typo)
//! fails the load with a suggestion, as does a malformed value of a real
//! group setting, naming the variable. Two groups whose names mangle to the
//! same variable name (`x-y`, `x_y`) make a variable that names them an error
//! naming both. A variable that is not unicode panics nothing: a setting's
//! value that is not is an error naming the variable, and any other such
//! variable (not ours, or naming no setting) is passed over. At a group's first use, where no caller can receive an error,
//! a failing environment is applied not at all and the error is logged;
//! [`load_env`](crate::config::load_env) returns it.

use super::error::{did_you_mean, ConfigError};
use super::layer::{Origin, Overrides, Val};
use super::parse;
use std::collections::BTreeMap;

/// The variable naming the configuration file read at first use.
pub const CONFIG_VAR: &str = "POOLED_CONFIG";
/// The variable setting the application-wide ceiling.
pub const CEILING_VAR: &str = "POOLED_CEILING";
const PREFIX: &str = "POOLED_";

/// The settings a variable may name, as they appear after the group part.
fn settings() -> Vec<&'static str> {
    parse::setting_names().collect()
}

/// The variable-name form of a group name (see the module docs).
pub fn mangle(group: &str) -> String {
    let mut out = String::with_capacity(group.len());
    let mut chars = group.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.push_str("__");
        } else if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push('_');
        }
    }
    out
}

/// What the environment says.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct EnvLayer {
    pub(crate) groups: BTreeMap<String, Overrides>,
    pub(crate) ceiling: Option<Val<usize>>,
}

/// Reads the `POOLED_*` variables among `vars` for the `known` group names.
pub(crate) fn read(
    vars: impl IntoIterator<Item = (String, String)>,
    known: &[&'static str],
) -> Result<EnvLayer, ConfigError> {
    let mut warnings = Vec::new();
    let read = read_values(
        vars.into_iter().map(|(var, value)| (var, Ok(value))),
        known,
        &mut warnings,
    );
    warn_all(warnings);
    read
}

/// Reads the process's `POOLED_*` variables for the `known` group names.
///
/// Not through `std::env::vars`, which panics at any variable (ours or
/// not) whose name or value is not unicode: a name that is not unicode is
/// read lossily (it names no group, so it is ignored or refused as any
/// such name is), and a value that is not unicode is an error naming its
/// variable if the variable sets something, ignored otherwise.
///
/// The warnings (variables ignored) are added to `warnings`, for the caller
/// to give once it holds no lock ([`warn_all`]): a logger is the user's code.
pub(crate) fn read_process(
    known: &[&'static str],
    warnings: &mut Vec<String>,
) -> Result<EnvLayer, ConfigError> {
    let vars = std::env::vars_os().filter_map(|(var, value)| {
        let var = var.to_string_lossy().into_owned();
        if !var.starts_with(PREFIX) {
            return None;
        }
        let value = value
            .into_string()
            .map_err(|raw| raw.to_string_lossy().into_owned());
        Some((var, value))
    });
    read_values(vars, known, warnings)
}

/// The value of a variable that sets something: an error if it is not
/// unicode (`Err` holds it, read lossily).
fn unicode(value: Result<String, String>, origin: &Origin) -> Result<String, ConfigError> {
    value.map_err(|lossy| {
        ConfigError::at(
            origin.clone(),
            format!("invalid value `{lossy}`: not valid unicode"),
        )
    })
}

/// [`read`], for values that may not be unicode (`Err`, read lossily).
fn read_values(
    vars: impl IntoIterator<Item = (String, Result<String, String>)>,
    known: &[&'static str],
    warnings: &mut Vec<String>,
) -> Result<EnvLayer, ConfigError> {
    let mut layer = EnvLayer::default();
    let names: Vec<(String, &'static str, &'static str)> = known
        .iter()
        .flat_map(|group| {
            let mangled = mangle(group);
            parse::setting_names()
                .map(move |setting| (format!("{PREFIX}{mangled}_{setting}"), *group, setting))
        })
        .collect();
    for (var, value) in vars {
        if !var.starts_with(PREFIX) || var == CONFIG_VAR {
            continue;
        }
        let origin = Origin::Env { var: var.clone() };
        if var == CEILING_VAR {
            let value = unicode(value, &origin)?;
            layer.ceiling = Some(Val {
                value: parse::ceiling(&value).map_err(|m| ConfigError::at(origin.clone(), m))?,
                origin,
            });
            continue;
        }
        let Some((_, group, setting)) = names.iter().find(|(name, _, _)| *name == var) else {
            // A variable that does not end in a setting's name is not meant
            // for a group (`POOLED_DB_URL`): ignored, with a warning. One that
            // does is a group setting with a misspelt group: an error.
            if !parse::setting_names().any(|s| var.ends_with(&format!("_{s}"))) {
                warnings.push(format!(
                    "ignoring `{var}`: it names no group setting \
                     ({PREFIX}<GROUP>_<SETTING>, SETTING one of {})",
                    settings().join(", ")
                ));
                continue;
            }
            let mut message = format!("`{var}` names no known group and setting");
            let candidates = names
                .iter()
                .map(|(n, _, _)| n.as_str())
                .chain([CONFIG_VAR, CEILING_VAR]);
            if let Some(close) = did_you_mean(&var, candidates) {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            message.push_str(&format!(
                " Variables are {PREFIX}<GROUP>_<SETTING> with SETTING one of {}",
                settings().join(", ")
            ));
            return Err(ConfigError::at(origin, message));
        };
        let sharing: Vec<&str> = names
            .iter()
            .filter(|(name, other, _)| *name == var && other != group)
            .map(|(_, other, _)| *other)
            .collect();
        if !sharing.is_empty() {
            return Err(ConfigError::at(
                origin,
                format!(
                    "`{var}` is ambiguous: the groups `{group}` and `{}` have the same \
                     variable name; rename one of them",
                    sharing.join("`, `")
                ),
            ));
        }
        let value = unicode(value, &origin)?;
        let overrides = layer.groups.entry((*group).to_owned()).or_default();
        parse::setting(overrides, setting, &value, origin)?;
    }
    Ok(layer)
}

/// Gives each of `warnings` (see [`warn`]) under `pooled::config`.
pub(crate) fn warn_all(warnings: Vec<String>) {
    for warning in warnings {
        warn("pooled::config", &warning);
    }
}

/// A warning no caller can receive (found at a group's first use): through
/// the `log` facade under `target` when a logger is installed, else on
/// stderr — the level filter still `Off` means nobody would see it (a
/// logger filtering WARN out is the user's choice, and kept).
pub(crate) fn warn(target: &str, message: &str) {
    #[cfg(feature = "config")]
    if log::max_level() != log::LevelFilter::Off {
        log::warn!(target: target, "{message}");
        return;
    }
    eprintln!("{target}: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn mangling_is_documented_and_unambiguous_for_paths() {
        assert_eq!(mangle("billing::api::fetch"), "BILLING__API__FETCH");
        assert_eq!(mangle("app::v2-client"), "APP__V2_CLIENT");
    }

    #[test]
    fn reads_group_settings_and_the_ceiling_and_ignores_other_variables() {
        let layer = read(
            vars(&[
                ("POOLED_APP__FETCH_MAX", "32"),
                ("POOLED_APP__FETCH_MAX_WAITING", "100"),
                ("POOLED_APP__FETCH_ADMISSION_TIMEOUT", "250ms"),
                ("POOLED_APP__FETCH_SYNC_BARGING", "50us"),
                ("POOLED_CEILING", "64"),
                ("POOLED_CONFIG", "x.toml"),
                ("PATH", "/bin"),
            ]),
            &["app::fetch"],
        )
        .unwrap();
        let fetch = &layer.groups["app::fetch"];
        assert_eq!(fetch.max.as_ref().unwrap().value, 32);
        assert_eq!(fetch.max_waiting.as_ref().unwrap().value, Some(100));
        assert_eq!(
            fetch.admission_timeout.as_ref().unwrap().value,
            Some(Duration::from_millis(250))
        );
        assert_eq!(fetch.sync_barging.as_ref().unwrap().value.as_micros(), 50);
        assert_eq!(layer.ceiling.unwrap().value, 64);
    }

    #[test]
    fn a_variable_that_names_no_group_setting_is_ignored() {
        let layer = read(
            vars(&[
                ("POOLED_DB_URL", "postgres://db"),
                ("POOLED_APP__FETCH_MAX", "3"),
            ]),
            &["app::fetch"],
        )
        .unwrap();
        assert_eq!(layer.groups.len(), 1, "the real setting still applies");
    }

    #[test]
    fn two_groups_with_one_variable_name_are_an_error_naming_both() {
        let err = read(vars(&[("POOLED_X_Y_MAX", "3")]), &["x-y", "x_y"]).unwrap_err();
        assert!(
            err.message.contains("`x-y`") && err.message.contains("`x_y`"),
            "{err}"
        );
        assert!(read(vars(&[]), &["x-y", "x_y"]).is_ok(), "only when named");
    }

    #[test]
    fn a_misspelt_variable_is_an_error_with_a_suggestion() {
        let err = read(vars(&[("POOLED_APP__FECTH_MAX", "3")]), &["app::fetch"]).unwrap_err();
        assert_eq!(
            err.origin,
            Some(Origin::Env {
                var: "POOLED_APP__FECTH_MAX".into()
            })
        );
        assert!(
            err.message
                .contains("did you mean `POOLED_APP__FETCH_MAX`?"),
            "{err}"
        );
        let err = read(vars(&[("POOLED_APP__FETCH_MAX", "-3")]), &["app::fetch"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable POOLED_APP__FETCH_MAX: invalid value `-3`: expected a whole number from 0 to 1073741823"
        );
    }
}
