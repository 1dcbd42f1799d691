//! The header printed above the table: command, machine, toolchain, date.

use crate::options::Options;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A few lines saying where and how the table was measured.
pub fn describe(options: &Options) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = if args.is_empty() {
        "cargo run --release -p pooled-bench".to_owned()
    } else {
        format!("cargo run --release -p pooled-bench -- {}", args.join(" "))
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "command: {command}\n\
         machine: {} ({cores} cores available), {} {}\n\
         toolchain: {}; tokio {}\n\
         date: {} UTC\n\
         load average at start: {}\n\
         mode: {}, {} runs per variant, median reported\n",
        cpu_model(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        rustc_version(),
        locked_version("tokio"),
        utc_now(),
        load_average(),
        if options.quick { "quick" } else { "full" },
        options.runs,
    )
}

/// The workspace lock file, for the versions of the anchors' crates.
const CARGO_LOCK: &str = include_str!("../../Cargo.lock");

/// The version of `package` in Cargo.lock.
fn locked_version(package: &str) -> &'static str {
    let name = format!("name = \"{package}\"");
    let mut lines = CARGO_LOCK.lines();
    while let Some(line) = lines.next() {
        if line == name {
            if let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                return version.trim_matches('"');
            }
        }
    }
    "unknown"
}

/// The 1, 5 and 15 minute load averages (Linux), to judge how quiet the
/// machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn rustc_version() -> String {
    Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "rustc (unknown version)".to_owned())
}

/// `YYYY-MM-DD HH:MM` of now, in UTC.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates_around_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
