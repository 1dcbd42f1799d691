//! Command-line options, and the iteration counts each mode implies.

use crate::runtimes::Flavor;

/// Printed for `--help` and after a bad argument.
pub const USAGE: &str = "\
usage: pooled-bench [--quick] [--case N[,N..]] [--runtime current|multi] [--runs N]
                    [--variant NAME]

  --quick          a few thousand iterations per case (CI smoke run; numbers are noise)
  --case N,..      only these cases (1 uncontended, 2 contended, 3 attribute,
                   4 blocking, 5 scale, 6 memory, 7 stats, 8 sync callers)
  --runtime R      only the current_thread or only the multi_thread runtime
  --runs N         repetitions per variant (median reported); default 9, quick 3
  --variant NAME   only the variant NAME, or those named NAME-… (for profiling one:
                   e.g. `pooled-fifo`, `semaphore`, `worker-queue`, `levels-1000`)";

/// What to run, and how much.
#[derive(Debug, Clone)]
pub struct Options {
    /// The tiny mode CI runs.
    pub quick: bool,
    /// Only these case numbers (all when empty).
    pub cases: Vec<u8>,
    /// Only this runtime (both when `None`).
    pub runtime: Option<Flavor>,
    /// Repetitions of every variant; the median is reported.
    pub runs: usize,
    /// Only the variant of this name, or those named `<this>-…`.
    pub variant: Option<String>,
    /// Print the usage and stop.
    pub help: bool,
}

impl Options {
    /// Parses the arguments after the program name.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut quick = false;
        let mut cases = Vec::new();
        let mut runtime = None;
        let mut runs = None;
        let mut variant = None;
        let mut help = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or(format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--quick" => quick = true,
                "--help" | "-h" => help = true,
                "--case" | "--cases" => {
                    for part in value()?.split(',') {
                        let number = part
                            .trim()
                            .parse::<u8>()
                            .ok()
                            .filter(|n| (1..=8).contains(n))
                            .ok_or(format!("--case takes numbers 1 to 8, not `{part}`"))?;
                        cases.push(number);
                    }
                }
                "--runtime" => {
                    runtime = Some(match value()?.as_str() {
                        "current" | "current_thread" => Flavor::CurrentThread,
                        "multi" | "multi_thread" => Flavor::MultiThread,
                        other => {
                            return Err(format!("--runtime is current or multi, not `{other}`"))
                        }
                    })
                }
                "--runs" => {
                    let text = value()?;
                    runs = Some(
                        text.parse::<usize>()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or(format!("--runs takes a positive number, not `{text}`"))?,
                    );
                }
                "--variant" => variant = Some(value()?),
                // `cargo bench` style harness flags are ignored.
                "--bench" => {}
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(Options {
            quick,
            cases,
            runtime,
            runs: runs.unwrap_or(if quick { 3 } else { 9 }),
            variant,
            help,
        })
    }

    /// Whether case `number` was asked for.
    pub fn wants(&self, number: u8) -> bool {
        self.cases.is_empty() || self.cases.contains(&number)
    }

    /// Whether the variant called `name` was asked for.
    pub fn wants_variant(&self, name: &str) -> bool {
        self.variant.as_deref().is_none_or(|only| {
            name.strip_prefix(only)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
    }

    /// The runtimes to measure on.
    pub fn flavors(&self) -> Vec<Flavor> {
        Flavor::ALL
            .into_iter()
            .filter(|flavor| self.runtime.is_none_or(|only| only == *flavor))
            .collect()
    }

    /// `full` iterations normally, `quick` in quick mode.
    pub fn size(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::from_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn cases_runtime_and_runs_are_parsed_in_both_spellings() {
        let options =
            parse(&["--quick", "--case", "2,5", "--runtime=multi", "--runs", "4"]).unwrap();
        assert!(options.quick);
        assert_eq!(options.cases, [2, 5]);
        assert!(options.wants(5) && !options.wants(1));
        assert_eq!(options.flavors(), [Flavor::MultiThread]);
        assert_eq!(options.runs, 4);
    }

    #[test]
    fn a_variant_filter_matches_the_name_or_its_dash_separated_family() {
        let options = parse(&["--variant", "levels-1000"]).unwrap();
        assert!(options.wants_variant("levels-1000"));
        assert!(!options.wants_variant("levels-1000000"));
        let options = parse(&["--variant", "pooled"]).unwrap();
        assert!(options.wants_variant("pooled-fifo") && !options.wants_variant("pooledx"));
        assert!(parse(&[]).unwrap().wants_variant("anything"));
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&["--case", "9"]).is_err());
        assert!(parse(&["--runs", "0"]).is_err());
        assert!(parse(&["--fast"]).is_err());
        assert!(parse(&["--runtime"]).is_err());
    }
}
