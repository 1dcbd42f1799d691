//! What a configuration load changed.

use std::fmt;

/// When a changed setting takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Applied to the group's running pool now.
    Applied,
    /// The group has not started yet; it will start with the new value.
    AtFirstUse,
    /// Kind, order (and the other settings a running pool cannot take, such
    /// as the fleet settings) are fixed once a pool runs: the value takes
    /// effect when the process restarts.
    AtRestart,
}

/// One changed setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The group's name, or `(ceiling)` for the application-wide ceiling.
    pub group: &'static str,
    /// The setting's name, as in the file.
    pub setting: &'static str,
    /// The old value.
    pub from: String,
    /// The new value.
    pub to: String,
    /// When it takes effect.
    pub effect: Effect,
}

/// What a load changed, group by group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Every setting whose value changed.
    pub changes: Vec<Change>,
}

impl Report {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return f.write_str("no changes");
        }
        for (i, c) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            let effect = match c.effect {
                Effect::Applied => "applied",
                Effect::AtFirstUse => "at first use",
                Effect::AtRestart => "at restart",
            };
            write!(
                f,
                "{}: {} {} -> {} ({effect})",
                c.group, c.setting, c.from, c.to
            )?;
        }
        Ok(())
    }
}
