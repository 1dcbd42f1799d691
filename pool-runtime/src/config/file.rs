//! The TOML file: a `[defaults]` table, one `[groups."<name>"]` table per
//! group, and an optional top-level `ceiling`.
//!
//! ```toml
//! ceiling = 64                 # at most 64 calls running across all groups
//!
//! [defaults]                   # every group, unless its own table says otherwise
//! max_waiting = 10000
//! admission_timeout = "2s"
//!
//! [groups."billing::api::fetch"]
//! kind = "autoscale"
//! min = 2
//! max = 32
//! ```

use super::error::{did_you_mean, unknown_group, ConfigError};
use super::layer::{Origin, Overrides};
use super::parse::{self, ValueKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// What a configuration file says.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct FileLayer {
    pub(crate) defaults: Overrides,
    pub(crate) groups: BTreeMap<String, Overrides>,
    pub(crate) ceiling: Option<super::layer::Val<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    ceiling: Option<Spanned<toml::Value>>,
    defaults: Option<RawSection>,
    groups: Option<BTreeMap<Spanned<String>, RawSection>>,
}

/// A group's (or the defaults') table: its keys are checked against the one
/// list of settings ([`parse::SETTINGS`]), in lower case.
type RawSection = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

struct Source<'a> {
    path: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn origin(&self, span: Range<usize>) -> Origin {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        // A byte-order mark opening the file is no column an editor shows.
        let last = before.rsplit('\n').next().unwrap_or("");
        let last = if line == 1 {
            last.trim_start_matches('\u{feff}')
        } else {
            last
        };
        let column = last.chars().count() + 1;
        Origin::File {
            path: self.path.to_owned(),
            line,
            column,
        }
    }
}

/// Parses a configuration file's text; `known` are the registered group names.
pub(crate) fn parse(
    path: &str,
    text: &str,
    known: &[&'static str],
) -> Result<FileLayer, ConfigError> {
    let source = Source { path, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let mut message = e.message().trim_end().to_owned();
        match e.span() {
            Some(span) => {
                // TOML's "duplicate key" (or table) names nothing: its span
                // is the second one, which is named here.
                if message.starts_with("duplicate") {
                    if let Some(key) = text.get(span.clone()).map(str::trim) {
                        message = format!("{message}: `{key}` is given twice");
                    }
                }
                if let Some(hint) = top_level_hint(&message) {
                    message.push_str(&hint);
                }
                ConfigError::at(source.origin(span), message)
            }
            None => ConfigError {
                origin: None,
                message: format!("{path}: {message}"),
            },
        }
    })?;
    let mut layer = FileLayer::default();
    if let Some(ceiling) = raw.ceiling {
        let origin = source.origin(ceiling.span());
        let value = integer(ceiling.get_ref()).and_then(|n| parse::ceiling(&n));
        layer.ceiling = Some(super::layer::Val {
            value: value.map_err(|m| ConfigError::at(origin.clone(), format!("`ceiling`: {m}")))?,
            origin,
        });
    }
    if let Some(defaults) = raw.defaults {
        layer.defaults = section(&source, defaults)?;
    }
    for (name, raw_section) in raw.groups.unwrap_or_default() {
        if !known.contains(&name.get_ref().as_str()) {
            return Err(ConfigError::at(
                source.origin(name.span()),
                unknown_group(name.get_ref(), known),
            ));
        }
        layer
            .groups
            .insert(name.into_inner(), section(&source, raw_section)?);
    }
    Ok(layer)
}

/// The keys a file may have outside any table, as [`RawFile`] names them.
const TOP_LEVEL: [&str; 3] = ["ceiling", "defaults", "groups"];

/// What to add to TOML's "unknown field `x`, expected ..." for a top-level
/// key: a group setting written outside any table says where it goes, a
/// slip of a top-level key names the one it is close to.
fn top_level_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let given = &rest[..rest.find('`')?];
    let lower = given.to_ascii_lowercase();
    if parse::setting_names().any(|name| name.eq_ignore_ascii_case(&lower)) {
        return Some(format!(
            "; `{given}` is a group setting: it goes in a `[defaults]` table (every \
             group) or a `[groups.\"name\"]` table (one group)"
        ));
    }
    did_you_mean(&lower, TOP_LEVEL).map(|close| format!("; did you mean `{close}`?"))
}

fn section(source: &Source<'_>, raw: RawSection) -> Result<Overrides, ConfigError> {
    let mut overrides = Overrides::default();
    for (key, value) in raw {
        let setting = key.get_ref().to_ascii_uppercase();
        let known = parse::SETTINGS.iter().find(|(name, _)| {
            *name == setting && key.get_ref().to_ascii_lowercase() == *key.get_ref()
        });
        let Some(&(setting, kind)) = known else {
            if key.get_ref() == TOP_LEVEL[0] {
                return Err(ConfigError::at(
                    source.origin(key.span()),
                    "`ceiling` is not a group setting: it is the application-wide \
                     limit over every group, a top-level key (written before the \
                     first table)",
                ));
            }
            let keys: Vec<String> = parse::setting_names()
                .map(str::to_ascii_lowercase)
                .collect();
            let mut message = format!("unknown field `{}`", key.get_ref());
            // Compared in lower case: a key written the environment's way
            // (`MAX`) is the likeliest slip, and means its lower-case name.
            let given = key.get_ref().to_ascii_lowercase();
            let close = did_you_mean(&given, keys.iter().map(String::as_str));
            if let Some(close) = close {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            message.push_str(&format!(
                "; expected one of {}",
                parse::quoted(&keys.iter().map(String::as_str).collect::<Vec<_>>())
            ));
            return Err(ConfigError::at(source.origin(key.span()), message));
        };
        let key = key.get_ref().as_str();
        let origin = source.origin(value.span());
        let text = match (kind, value.get_ref()) {
            // An optional bound removed, whatever its values' type.
            (_, toml::Value::String(word))
                if word == parse::NONE && parse::UNSETTABLE.contains(&setting) =>
            {
                Ok(word.clone())
            }
            (ValueKind::Word | ValueKind::Duration, value) => string(value),
            (ValueKind::Count, value) => integer(value),
            (ValueKind::Number, value) => number(value),
        }
        .map_err(|m| match parse::UNSETTABLE.contains(&setting) {
            true => format!("{m} (or the string \"{}\" for no bound)", parse::NONE),
            false => m,
        })
        .map_err(|m| ConfigError::at(origin.clone(), format!("`{key}`: {m}")))?;
        parse::setting(&mut overrides, setting, &text, origin).map_err(|e| ConfigError {
            message: format!("`{key}`: {}", e.message),
            ..e
        })?;
    }
    Ok(overrides)
}

fn string(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        other => Err(format!("expected a string, found {}", other.type_str())),
    }
}

fn number(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(x) => Ok(x.to_string()),
        other => Err(format!("expected a number, found {}", other.type_str())),
    }
}

fn integer(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::Integer(n) => Ok(n.to_string()),
        other => Err(format!("expected an integer, found {}", other.type_str())),
    }
}
