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

use super::error::{unknown_group, ConfigError};
use super::layer::{Origin, Overrides};
use super::parse;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// What a configuration file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    kind: Option<Spanned<toml::Value>>,
    order: Option<Spanned<toml::Value>>,
    size: Option<Spanned<toml::Value>>,
    min: Option<Spanned<toml::Value>>,
    max: Option<Spanned<toml::Value>>,
    max_waiting: Option<Spanned<toml::Value>>,
    admission_timeout: Option<Spanned<toml::Value>>,
    autoscale_interval: Option<Spanned<toml::Value>>,
    autoscale_window: Option<Spanned<toml::Value>>,
    policy: Option<Spanned<toml::Value>>,
}

struct Source<'a> {
    path: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn origin(&self, span: Range<usize>) -> Origin {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
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
        let message = e.message().trim_end().to_owned();
        match e.span() {
            Some(span) => ConfigError::at(source.origin(span), message),
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

fn section(source: &Source<'_>, raw: RawSection) -> Result<Overrides, ConfigError> {
    let mut overrides = Overrides::default();
    let fields = [
        ("kind", "KIND", raw.kind),
        ("order", "ORDER", raw.order),
        ("size", "SIZE", raw.size),
        ("min", "MIN", raw.min),
        ("max", "MAX", raw.max),
        ("max_waiting", "MAX_WAITING", raw.max_waiting),
        (
            "admission_timeout",
            "ADMISSION_TIMEOUT",
            raw.admission_timeout,
        ),
        (
            "autoscale_interval",
            "AUTOSCALE_INTERVAL",
            raw.autoscale_interval,
        ),
        ("autoscale_window", "AUTOSCALE_WINDOW", raw.autoscale_window),
        ("policy", "POLICY", raw.policy),
    ];
    for (key, setting, value) in fields {
        let Some(value) = value else { continue };
        let origin = source.origin(value.span());
        let text = match setting {
            "KIND" | "ORDER" | "ADMISSION_TIMEOUT" | "AUTOSCALE_INTERVAL" | "POLICY" => {
                string(value.get_ref())
            }
            _ => integer(value.get_ref()),
        }
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

fn integer(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::Integer(n) => Ok(n.to_string()),
        other => Err(format!("expected an integer, found {}", other.type_str())),
    }
}
