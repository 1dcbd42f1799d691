//! Configuration errors: what is wrong, where (file, line and column, or the
//! environment variable), and what would be valid.

use super::layer::Origin;
pub(crate) use pool_settings::suggest::did_you_mean;
use std::fmt;

/// A configuration that was not applied. Loading is all or nothing: after an
/// error, the settings in force before the call stay in force.
///
/// Its `Display` is `file:line:column: message` (or `environment variable
/// NAME: message`); [`origin`](ConfigError::origin) and
/// [`message`](ConfigError::message) give the parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub(crate) origin: Option<Origin>,
    pub(crate) message: String,
}

impl ConfigError {
    /// Where the offending value is: a file position or an environment
    /// variable; `None` for errors about the file as a whole (it could not be
    /// read).
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// What is wrong, naming the valid choices.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn at(origin: Origin, message: impl Into<String>) -> Self {
        ConfigError {
            origin: Some(origin),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{origin}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(feature = "config")]
/// "unknown group `x`; did you mean `y`? known groups: `a`, `b`".
pub(crate) fn unknown_group(given: &str, known: &[&str]) -> String {
    let mut message = format!("unknown group `{given}`");
    if let Some(close) = did_you_mean(given, known.iter().copied()) {
        message.push_str(&format!("; did you mean `{close}`?"));
    }
    if known.is_empty() {
        message.push_str(" (no groups are registered in this binary)");
    } else {
        message.push_str(" known groups: ");
        message.push_str(
            &known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    message
}
