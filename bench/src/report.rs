//! The ratio table: one row per (case, runtime, comparison).

use std::fmt::Write as _;

/// What a row's numbers count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per call.
    Ns,
    /// Bytes.
    Bytes,
    /// Heap allocations per call.
    Allocs,
}

impl Unit {
    fn format(self, value: f64) -> String {
        match self {
            Unit::Ns if value >= 10_000.0 => format!("{:.1} µs", value / 1000.0),
            Unit::Ns if value >= 100.0 => format!("{value:.0}"),
            Unit::Ns => format!("{value:.1}"),
            Unit::Bytes => format!("{value:.0} B"),
            Unit::Allocs => format!("{value:.4} allocs"),
        }
    }
}

/// What a row must show to meet its issue-5 target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// `value / anchor <= bound`.
    RatioAtMost(f64),
    /// `value <= bound`, in the row's unit.
    AtMost(f64),
    /// No target: shown for context.
    Info,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Case number and what was measured, e.g. `2 contended, FIFO`.
    pub case: String,
    /// Runtime flavour, or how the case was driven.
    pub runtime: &'static str,
    /// The measured value (median).
    pub value: f64,
    /// The unit of `value` and `anchor_value`.
    pub unit: Unit,
    /// What it is compared with.
    pub anchor: String,
    /// The anchor's value (median), if it has one.
    pub anchor_value: Option<f64>,
    /// The target.
    pub target: Target,
}

impl Row {
    /// A row comparing `value` with a measured anchor.
    pub fn ratio(
        case: impl Into<String>,
        runtime: &'static str,
        value: f64,
        anchor: impl Into<String>,
        anchor_value: f64,
        target: Target,
    ) -> Row {
        Row {
            case: case.into(),
            runtime,
            value,
            unit: Unit::Ns,
            anchor: anchor.into(),
            anchor_value: Some(anchor_value),
            target,
        }
    }

    /// A row with an absolute value (no anchor, or an anchor given in `anchor`).
    pub fn absolute(
        case: impl Into<String>,
        runtime: &'static str,
        value: f64,
        unit: Unit,
        target: Target,
    ) -> Row {
        Row {
            case: case.into(),
            runtime,
            value,
            unit,
            anchor: "—".into(),
            anchor_value: None,
            target,
        }
    }

    /// Sets the unit (the constructors assume ns).
    pub fn in_unit(mut self, unit: Unit) -> Row {
        self.unit = unit;
        self
    }

    /// `value / anchor`, when there is an anchor to divide by.
    pub fn ratio_value(&self) -> Option<f64> {
        self.anchor_value
            .filter(|&a| a > 0.0)
            .map(|a| self.value / a)
    }

    /// `Some(met)` for a row with a target.
    pub fn met(&self) -> Option<bool> {
        match self.target {
            Target::RatioAtMost(bound) => self.ratio_value().map(|r| r <= bound),
            Target::AtMost(bound) => Some(self.value <= bound),
            Target::Info => None,
        }
    }
}

/// All rows of one run, in the order they were measured.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Adds a row (and echoes it to stderr as progress). A row whose value
    /// was not measured (`--variant` left it out) is dropped; an unmeasured
    /// anchor leaves the row without a ratio.
    pub fn push(&mut self, mut row: Row) {
        if row.value.is_nan() {
            return;
        }
        row.anchor_value = row.anchor_value.filter(|a| !a.is_nan());
        eprintln!("  {}", render_row(&row).trim_end());
        self.rows.push(row);
    }

    /// Rows with a target.
    pub fn targeted(&self) -> usize {
        self.rows.iter().filter(|r| r.met().is_some()).count()
    }

    /// Rows whose target is met.
    pub fn met(&self) -> usize {
        self.rows.iter().filter(|r| r.met() == Some(true)).count()
    }

    /// The markdown table.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "| case | runtime | ns/call | anchor | anchor ns/call | ratio | target | met? |\n\
             |---|---|---:|---|---:|---:|---|---|\n",
        );
        for row in &self.rows {
            out.push_str(&render_row(row));
        }
        out
    }
}

/// The name and value of the smallest measured value (the fastest of a
/// case's peers); `None` when `--variant` left them all out.
pub fn fastest<'a>(names: &[&'a str], values: &[f64]) -> Option<(&'a str, f64)> {
    names
        .iter()
        .zip(values)
        .filter(|(_, value)| !value.is_nan())
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(&name, &value)| (name, value))
}

fn render_row(row: &Row) -> String {
    let anchor_value = row
        .anchor_value
        .map_or_else(|| "—".to_owned(), |a| row.unit.format(a));
    let ratio = row
        .ratio_value()
        .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
    let target = match row.target {
        Target::RatioAtMost(bound) => format!("≤ {bound}×"),
        Target::AtMost(bound) if bound == 0.0 && row.unit == Unit::Allocs => "0 allocs".to_owned(),
        Target::AtMost(bound) => format!("≤ {}", row.unit.format(bound)),
        Target::Info => "info".to_owned(),
    };
    let met = match row.met() {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "—",
    };
    let mut line = String::new();
    let _ = writeln!(
        line,
        "| {} | {} | {} | {} | {} | {} | {} | {} |",
        row.case,
        row.runtime,
        row.unit.format(row.value),
        row.anchor,
        anchor_value,
        ratio,
        target,
        met
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_targets_compare_with_the_anchor_and_absolute_ones_with_the_value() {
        let fast = Row::ratio("1", "rt", 20.0, "sem", 25.0, Target::RatioAtMost(1.0));
        let slow = Row::ratio("1", "rt", 30.0, "sem", 25.0, Target::RatioAtMost(1.0));
        let bytes = Row::absolute("6", "-", 72.0, Unit::Bytes, Target::AtMost(64.0));
        let info = Row::ratio("2", "rt", 1.0, "x", 2.0, Target::Info);
        assert_eq!(fast.met(), Some(true));
        assert_eq!(slow.met(), Some(false));
        assert_eq!(bytes.met(), Some(false));
        assert_eq!(info.met(), None);
        let mut table = Table::default();
        for row in [fast, slow, bytes, info] {
            table.push(row);
        }
        assert_eq!((table.met(), table.targeted()), (1, 3));
        let text = table.render();
        assert!(text.contains("| 1 | rt | 30.0 | sem | 25.0 | 1.20× | ≤ 1× | **no** |"));
        assert!(text.contains("| 6 | - | 72 B | — | — | — | ≤ 64 B | **no** |"));
        assert_eq!(Unit::Allocs.format(0.00125), "0.0013 allocs");
    }

    #[test]
    fn the_fastest_peer_is_the_smallest_measured_value() {
        let names = ["a", "b", "c"];
        assert_eq!(fastest(&names, &[3.0, f64::NAN, 2.0]), Some(("c", 2.0)));
        assert_eq!(fastest(&names, &[f64::NAN; 3]), None);
    }
}
