//! Configuration errors: what is wrong, where (file, line and column, or the
//! environment variable), and what would be valid.

use super::layer::Origin;
use std::fmt;

/// A configuration that was not applied. Loading is all or nothing: after an
/// error, the settings in force before the call stay in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the offending value is; `None` for errors about the file as a
    /// whole (it could not be read).
    pub origin: Option<Origin>,
    /// What is wrong, naming the valid choices.
    pub message: String,
}

impl ConfigError {
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

/// The known name closest to `given`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    given: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|name| (edit_distance(given, name), name))
        .filter(|&(d, name)| d <= (name.len().max(given.len()) / 3).max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["app::fetch", "app::store"];
        assert_eq!(did_you_mean("app::fetc", known), Some("app::fetch"));
        assert_eq!(did_you_mean("app::stor", known), Some("app::store"));
        assert_eq!(did_you_mean("billing", known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
