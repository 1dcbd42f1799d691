//! Parameter exploration of the adaptive policy: every candidate is a set of
//! `AdaptiveSettings` and pool bounds run through the runtime's own policy;
//! it runs the three workloads on every seed against the same reference runs
//! (unbounded and oracle), and is scored on the targets. Stages:
//!
//! * `sweep`: one parameter at a time around the runtime's defaults;
//! * `grid`: the parameters that matter, together;
//! * `robust`: the finalists' targets met on every server shape;
//! * `holdout`: the finalists on seeds not used for tuning, and on every
//!   other server shape.

use crate::metrics::{self, Metrics};
use crate::report;
use crate::server::Model;
use crate::sim::{self, Adaptive, Contender, Policy, Run, Workload};
use crate::{par_map, Options};
use std::time::Duration;

/// One explored candidate's key numbers.
struct Row {
    label: String,
    metrics: [Metrics; 3],
    met: usize,
    of: usize,
    missed: Vec<String>,
}

fn describe(a: &Adaptive) -> String {
    let s = &a.settings;
    let mut out = format!(
        "n={} t={}ms tol={} sm={} base={}s bo={} dt={} min={}",
        s.window_samples,
        s.window_time.as_millis(),
        s.tolerance,
        s.smoothing,
        s.baseline_interval.as_secs(),
        s.backoff,
        s.drop_tolerance,
        a.min,
    );
    if let Some(i) = a.initial {
        out += &format!(" start={i}");
    }
    if *a == crate::default_adaptive() {
        out += " (defaults)";
    }
    out
}

/// The server shapes the robustness stages run on.
fn models() -> Vec<(&'static str, Model)> {
    vec![
        (
            "the issue's model (σ 0.5, knee slope 0.25, mean 50 ms)",
            Model::default(),
        ),
        (
            "σ = 1.0 (heavier tail)",
            Model {
                sigma: 1.0,
                ..Model::default()
            },
        ),
        (
            "knee slope 0.1 (gentler knee)",
            Model {
                knee_slope: 0.1,
                ..Model::default()
            },
        ),
        (
            "knee slope 0.5 (sharper knee)",
            Model {
                knee_slope: 0.5,
                ..Model::default()
            },
        ),
        (
            "mean service 200 ms (timeout only 5× the mean)",
            Model {
                mean: 0.2,
                ..Model::default()
            },
        ),
    ]
}

/// Reference runs (`[workload][seed index]`) of one policy.
fn references(workloads: &[Workload], policy: Policy, seeds: &[u64]) -> Vec<Vec<Run>> {
    let c = Contender {
        name: String::new(),
        policy,
    };
    let jobs: Vec<(usize, u64)> = (0..workloads.len())
        .flat_map(|w| seeds.iter().map(move |&s| (w, s)))
        .collect();
    let mut runs = par_map(&jobs, |&(w, s)| sim::run(&workloads[w], &c, s)).into_iter();
    workloads
        .iter()
        .map(|_| seeds.iter().map(|_| runs.next().expect("a run")).collect())
        .collect()
}

/// The reference levels the rows are shown against: the oracle's W1 steady
/// goodput, its W2 overload-phase goodput, and W3's offered load.
struct Levels(f64, f64, f64);

/// Scores every candidate.
fn score(workloads: &[Workload], seeds: &[u64], candidates: &[Adaptive]) -> (Vec<Row>, Levels) {
    let oracle = references(workloads, Policy::Oracle, seeds);
    let unbounded = references(workloads, Policy::Unbounded, seeds);
    let measure_all = |w: usize, runs: &[Run], with_oracle: bool| -> Metrics {
        let all: Vec<Metrics> = runs
            .iter()
            .zip(&oracle[w])
            .map(|(r, o)| metrics::measure(&workloads[w], r, with_oracle.then_some(o)))
            .collect();
        metrics::medians(&all)
    };
    let reference: Vec<(Metrics, Metrics)> = (0..workloads.len())
        .map(|w| {
            (
                measure_all(w, &unbounded[w], true),
                measure_all(w, &oracle[w], false),
            )
        })
        .collect();
    let jobs: Vec<(usize, usize, usize)> = (0..candidates.len())
        .flat_map(|c| {
            (0..workloads.len()).flat_map(move |w| (0..seeds.len()).map(move |s| (c, w, s)))
        })
        .collect();
    let per_job = par_map(&jobs, |&(c, w, s)| {
        let contender = Contender {
            name: String::new(),
            policy: Policy::Adaptive(candidates[c]),
        };
        let run = sim::run(&workloads[w], &contender, seeds[s]);
        metrics::measure(&workloads[w], &run, Some(&oracle[w][s]))
    });
    let mut per_job = per_job.into_iter();
    let rows = candidates
        .iter()
        .map(|c| {
            let m: Vec<Metrics> = (0..workloads.len())
                .map(|_| {
                    let all: Vec<Metrics> = (0..seeds.len())
                        .map(|_| per_job.next().expect("a job"))
                        .collect();
                    metrics::medians(&all)
                })
                .collect();
            let results: Vec<Vec<Metrics>> = (0..workloads.len())
                .map(|w| vec![reference[w].0.clone(), m[w].clone(), reference[w].1.clone()])
                .collect();
            let checks = report::checks(workloads, &results, 1);
            Row {
                label: describe(c),
                met: checks.iter().filter(|c| c.met).count(),
                of: checks.len(),
                missed: checks
                    .iter()
                    .filter(|c| !c.met)
                    .map(|c| c.what.clone())
                    .collect(),
                metrics: [m[0].clone(), m[1].clone(), m[2].clone()],
            }
        })
        .collect();
    let levels = Levels(
        reference[0].1.steady_goodput,
        reference[1].1.phase_goodput[1],
        reference[2].1.arrived / workloads[2].duration,
    );
    (rows, levels)
}

/// A convergence time: "never" if not within the phase, "—" if not measured.
fn seconds(t: Option<&f64>) -> String {
    match t {
        None => "—".into(),
        Some(t) if t.is_finite() => format!("{t:.1}"),
        Some(_) => "never".into(),
    }
}

fn print(title: &str, rows: &[Row], levels: &Levels) {
    println!("\n### {title}\n");
    println!("| settings | met | W1 steady | W1 fail | W1 p99 ms | drop s | rise s | W2 overload | W2 fail | W2 p99 ms | W3 goodput | W3 fail | W3 p99 e2e ms |");
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let [w1, w2, w3] = &r.metrics;
        println!(
            "| {} | {}/{} | {:.1}% | {:.2}% | {:.0} | {} | {} | {:.1}% | {:.2}% | {:.0} | {:.1}% | {:.2}% | {:.0} |",
            r.label,
            r.met,
            r.of,
            100.0 * w1.steady_goodput / levels.0,
            100.0 * w1.failed_fraction,
            1000.0 * w1.p99,
            seconds(w1.converge_drop.first()),
            seconds(w1.converge_rise.first()),
            100.0 * w2.phase_goodput[1] / levels.1,
            100.0 * w2.failed_fraction,
            1000.0 * w2.p99,
            100.0 * w3.goodput / levels.2,
            100.0 * w3.failed_fraction,
            1000.0 * w3.p99_e2e,
        );
    }
    println!();
    for r in rows.iter().filter(|r| r.met < r.of) {
        println!("- {} misses: {}", r.label, r.missed.join("; "));
    }
}

fn with(base: Adaptive, f: impl Fn(&mut Adaptive)) -> Adaptive {
    let mut a = base;
    f(&mut a);
    a
}

/// Runs the requested stages and prints their tables.
pub fn explore(options: &Options, workloads: &[Workload]) {
    let seeds = options.seed_list();
    let ms = Duration::from_millis;
    let s = Duration::from_secs;
    let base = crate::default_adaptive();
    let stages: Vec<&str> = options.tune.iter().map(String::as_str).collect();
    if stages.contains(&"sweep") {
        let mut candidates = vec![base];
        for n in [5, 20, 30, 50] {
            candidates.push(with(base, |a| a.settings.window_samples = n));
        }
        for t in [50, 250, 500] {
            candidates.push(with(base, |a| a.settings.window_time = ms(t)));
        }
        for tol in [1.1, 1.35, 1.5, 2.0] {
            candidates.push(with(base, |a| a.settings.tolerance = tol));
        }
        for sm in [0.1, 0.2, 0.5, 1.0] {
            candidates.push(with(base, |a| a.settings.smoothing = sm));
        }
        for b in [5, 10, 30, 120] {
            candidates.push(with(base, |a| a.settings.baseline_interval = s(b)));
        }
        for bo in [0.75, 0.9, 0.95] {
            candidates.push(with(base, |a| a.settings.backoff = bo));
        }
        for dt in [0.0, 0.05, 0.1] {
            candidates.push(with(base, |a| a.settings.drop_tolerance = dt));
        }
        for min in [1, 3, 4] {
            candidates.push(with(base, |a| a.min = min));
        }
        for size in [2, 8, 32] {
            candidates.push(with(base, |a| a.initial = Some(size)));
        }
        let (rows, levels) = score(workloads, &seeds, &candidates);
        print(
            "sweep: one parameter at a time (first row: AdaptiveSettings::default(), min 2, start 16)",
            &rows,
            &levels,
        );
    }
    if stages.contains(&"grid") {
        let mut grid: Vec<Adaptive> = Vec::new();
        for n in [10, 20] {
            for tol in [1.2, 1.35, 1.5] {
                for sm in [0.2, 0.35, 0.5] {
                    for b in [10, 30, 60] {
                        for min in [1, 2, 3] {
                            // Start at `min`, or at the builder's default.
                            for size in [Some(min), None] {
                                grid.push(with(base, |a| {
                                    a.settings.window_samples = n;
                                    a.settings.tolerance = tol;
                                    a.settings.smoothing = sm;
                                    a.settings.baseline_interval = s(b);
                                    a.min = min;
                                    a.initial = size;
                                }));
                            }
                        }
                    }
                }
            }
        }
        let total = grid.len();
        let (mut rows, levels) = score(workloads, &seeds, &grid);
        let all_met = rows.iter().filter(|r| r.met == r.of).count();
        let count = |pick: &dyn Fn(&Adaptive) -> bool| {
            let of = grid.iter().filter(|a| pick(a)).count();
            let met = grid
                .iter()
                .zip(&rows)
                .filter(|(a, r)| pick(a) && r.met == r.of)
                .count();
            format!("{met} of {of}")
        };
        println!("\ngrid: candidates meeting every target, by parameter value:");
        for min in [1, 2, 3] {
            println!("- min {min}: {}", count(&|a| a.min == min));
        }
        println!("- starting size = min: {}", count(&|a| a.initial.is_some()));
        println!(
            "- starting size = the builder's (min): {}",
            count(&|a| a.initial.is_none())
        );
        for b in [10, 30, 60] {
            println!(
                "- baseline_interval {b} s: {}",
                count(&|a| a.settings.baseline_interval == s(b))
            );
        }
        for sm in [0.2, 0.35, 0.5] {
            println!(
                "- smoothing {sm}: {}",
                count(&|a| a.settings.smoothing == sm)
            );
        }
        for tol in [1.2, 1.35, 1.5] {
            println!(
                "- tolerance {tol}: {}",
                count(&|a| a.settings.tolerance == tol)
            );
        }
        for n in [10, 20] {
            println!(
                "- window_samples {n}: {}",
                count(&|a| a.settings.window_samples == n)
            );
        }
        rows.sort_by(|a, b| {
            b.met.cmp(&a.met).then(
                b.metrics[0]
                    .steady_goodput
                    .total_cmp(&a.metrics[0].steady_goodput),
            )
        });
        rows.truncate(30);
        print(
            &format!("grid: {total} candidates, {all_met} meet every target; best 30 by targets met, then W1 steady goodput"),
            &rows,
            &levels,
        );
    }
    if stages.contains(&"robust") {
        // The runtime's defaults before the tuning, on today's algorithm.
        let before = with(base, |a| {
            a.settings.smoothing = 0.2;
            a.settings.baseline_interval = s(10);
            a.settings.backoff = 0.9;
            a.min = 1;
            a.initial = Some(1);
        });
        let candidates = [
            base,
            with(base, |a| a.min = 1),
            with(base, |a| a.min = 3),
            with(base, |a| a.initial = Some(2)),
            with(base, |a| a.settings.backoff = 0.9),
            with(base, |a| a.settings.window_samples = 20),
            with(base, |a| a.settings.tolerance = 1.35),
            before,
        ];
        let mut table: Vec<Vec<(usize, usize, Vec<String>)>> = vec![Vec::new(); candidates.len()];
        let names: Vec<&str> = models().iter().map(|m| m.0).collect();
        for (_, model) in models() {
            let other = Workload::all(options.phase, options.batch, model);
            let (rows, _) = score(&other, &seeds, &candidates);
            for (k, r) in rows.into_iter().enumerate() {
                table[k].push((r.met, r.of, r.missed));
            }
        }
        println!("\n### robustness: targets met per server shape\n");
        println!("| candidate | {} | total |", names.join(" | "));
        println!("|---|{}--:|", "--:|".repeat(names.len()));
        for (c, cells) in candidates.iter().zip(&table) {
            let met: usize = cells.iter().map(|x| x.0).sum();
            let of: usize = cells.iter().map(|x| x.1).sum();
            println!(
                "| {} | {} | {met}/{of} |",
                describe(c),
                cells
                    .iter()
                    .map(|x| format!("{}/{}", x.0, x.1))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        println!();
        for (c, cells) in candidates.iter().zip(&table) {
            for (name, cell) in names.iter().zip(cells) {
                if !cell.2.is_empty() {
                    println!("- {} on {}: {}", describe(c), name, cell.2.join("; "));
                }
            }
        }
    }
    if stages.contains(&"holdout") {
        let held: Vec<u64> = (100..100 + 2 * seeds.len() as u64).collect();
        let finalists = [base, with(base, |a| a.min = 1), with(base, |a| a.min = 3)];
        let (rows, levels) = score(workloads, &held, &finalists);
        print(
            &format!(
                "holdout: seeds {}..{} (not used for tuning)",
                held[0],
                held[held.len() - 1] + 1
            ),
            &rows,
            &levels,
        );
        for (label, model) in models().into_iter().skip(1) {
            let other = Workload::all(options.phase, options.batch, model);
            let (rows, levels) = score(&other, &seeds, &finalists);
            print(&format!("robustness: server with {label}"), &rows, &levels);
        }
    }
}
