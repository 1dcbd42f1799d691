//! Issue 11's yardstick: a family of server models the adaptive policy was
//! not tuned on, each under open-loop Poisson arrivals below and above its
//! capacity (plus one closed-loop scenario), run through `pooled`'s adaptive
//! pool, three reference controllers (`crate::peers`) and the oracle.
//!
//! Every server has 8 workers of 50 ms mean service (160 calls/s) unless
//! said otherwise; the open-loop scenarios offer 0.5×, 1.5× and 0.5× of the
//! server's throughput in three phases of equal length. The constants are
//! documented in `sim/RESULTS.md`, "Server family (issue 11)".

use crate::metrics::Metrics;
use crate::peers::Peer;
use crate::server::{Admission, Knee, Link, Model};
use crate::sim::{Adaptive, Closed, Contender, Phase, Policy, Run, Workload};
use pooled::{AdaptiveSettings, Kind, Pool};

/// Workers of every family server (but the rate-limited one and the phases
/// of the capacity drop).
pub const WORKERS: usize = 8;
/// The adaptive pool's `max`: above the largest true capacity in the family
/// (the slow link's 88).
pub const MAX: usize = 128;
/// The models whose plots `--family` writes.
pub const PLOTTED: [&str; 3] = ["drop", "slow-link", "cap-drop"];

/// The adaptive pool's `max` on `workload`: [`MAX`], or for a model whose
/// true capacity (or 1.25× it, the largest oracle) needs more in flight
/// (the late set's long link: 208), the next power of two above that — as
/// a user sets `max` above what their server can take. (Capped at 128, the long link was held to 0.71× of the
/// oracle by the contender's settings, not by the policy.)
pub fn max_for(workload: &Workload) -> usize {
    let largest = workload
        .phases
        .iter()
        .map(|p| workload.model.capacity_limit(p.capacity))
        .max()
        .unwrap_or(1);
    // Room for the largest oracle too (`ORACLE_SCALES`).
    let room = (largest as f64 * 1.25).ceil() as usize;
    if room <= MAX {
        MAX
    } else {
        room.next_power_of_two()
    }
}

/// The builder's default `min` for an autoscaled pool of `max`.
fn builder_min(max: usize) -> usize {
    Pool::builder()
        .kind(Kind::Autoscale)
        .max(max)
        .build()
        .expect("valid pool settings")
        .bounds()
        .0
}

/// The multiples of the true capacity the oracle is chosen from, nearest
/// to 1 first (a tie keeps the nearest).
pub const ORACLE_SCALES: [f64; 6] = [1.0, 0.9, 1.1, 0.8, 1.25, 0.7];

/// The contenders: `pooled`'s adaptive policy as the runtime ships it (its
/// defaults and the builder's, `max` as given: [`max_for`]), the peers, and
/// the oracle at the true capacity (last, as `evaluate` wants it; [`run`]
/// replaces it by the best multiple of [`ORACLE_SCALES`]). `min` replaces
/// the builder's default `min` (`--min`).
pub fn contenders(min: Option<usize>, max: usize) -> Vec<Contender> {
    let min = min.unwrap_or_else(|| builder_min(max));
    let mut out = vec![Contender {
        name: format!("pooled adaptive {min}..{max}"),
        policy: Policy::Adaptive(Adaptive {
            settings: AdaptiveSettings::DEFAULT,
            min,
            max,
            initial: None,
        }),
    }];
    out.extend(Peer::ALL.iter().map(|&p| Contender {
        name: p.name().into(),
        policy: Policy::Peer(p),
    }));
    out.push(Contender {
        name: "oracle".into(),
        policy: Policy::Oracle,
    });
    out
}

/// An open-loop scenario on `model` with `workers` workers: Poisson at 0.5×,
/// 1.5× and 0.5× of its throughput, `phase` seconds each.
pub(crate) fn open(
    name: &'static str,
    what: &str,
    model: Model,
    workers: usize,
    phase: f64,
) -> Workload {
    let cap = model.throughput(workers);
    Workload {
        name,
        title: format!(
            "{what}; Poisson 0.5× → 1.5× → 0.5× of {cap:.0}/s (oracle limit {})",
            model.capacity_limit(workers)
        ),
        batch: 0,
        phases: [0.5, 1.5, 0.5]
            .iter()
            .enumerate()
            .map(|(i, x)| Phase {
                start: i as f64 * phase,
                capacity: workers,
                rate: x * cap,
            })
            .collect(),
        duration: 3.0 * phase,
        model,
        closed: None,
    }
}

/// A scenario on `model` whose server has `workers[i]` workers in phase `i`
/// (`phase` seconds each) under a constant Poisson `rate`.
pub(crate) fn capacity_steps(
    name: &'static str,
    title: String,
    model: Model,
    workers: [usize; 3],
    rate: f64,
    phase: f64,
) -> Workload {
    Workload {
        name,
        title,
        batch: 0,
        phases: workers
            .iter()
            .enumerate()
            .map(|(i, &capacity)| Phase {
                start: i as f64 * phase,
                capacity,
                rate,
            })
            .collect(),
        duration: 3.0 * phase,
        model,
        closed: None,
    }
}

/// The family, with phases `phase` seconds long.
pub fn scenarios(phase: f64) -> Vec<Workload> {
    let base = Model::default();
    let c = WORKERS;
    let with = |admission| Model { admission, ..base };
    let mut out = vec![
        open(
            "defer",
            "(a) past 12 in the server, 'overloaded' after 250 ms",
            with(Admission::Defer {
                limit: 12,
                delay: 0.25,
            }),
            c,
            phase,
        ),
        open(
            "drop",
            "(b) past 12 in the server, no answer (client timeout 1 s)",
            with(Admission::Drop { limit: 12 }),
            c,
            phase,
        ),
        open(
            "rate-limit",
            "(c) token bucket 160/s, burst 10, instant 429; 32 workers",
            with(Admission::RateLimit {
                rate: 160.0,
                burst: 10.0,
            }),
            32,
            phase,
        ),
        open(
            "exp-knee",
            "(d) latency × e^(excess / c) past c",
            Model {
                knee: Knee::Exponential,
                knee_slope: 1.0,
                ..base
            },
            c,
            phase,
        ),
        open(
            "jitter",
            "(e) link delay uniform 0–100 ms",
            Model {
                link: Link::Jitter { max: 0.1 },
                ..base
            },
            c,
            phase,
        ),
        open(
            "slow-link",
            "(f) link delay 500 ms",
            Model {
                link: Link::Fixed(0.5),
                ..base
            },
            c,
            phase,
        ),
    ];
    // (g): the capacity falls and recovers under a constant rate.
    let rate = 0.5 * base.throughput(32);
    out.push(capacity_steps(
        "cap-drop",
        format!(
            "(g) workers 32 → 8 → 32; Poisson {rate:.0}/s (0.5× → 2× → 0.5×; oracle 32 → 8 → 32)"
        ),
        base,
        [32, 8, 32],
        rate,
        phase,
    ));
    out.push(open(
        "heavy-tail",
        "(h) lognormal σ = 1, no knee",
        Model {
            sigma: 1.0,
            knee_slope: 0.0,
            ..base
        },
        c,
        phase,
    ));
    let fail_fast = with(Admission::FailFast { limit: c });
    out.push(open(
        "fail-fast",
        "(i) past 8 in the server, instant 503",
        fail_fast,
        c,
        phase,
    ));
    out.push(closed(
        "closed-loop",
        format!(
            "closed loop: 200 clients, think time 1 s (exponential), on (i) (oracle limit {c})"
        ),
        fail_fast,
        c,
        Closed {
            clients: 200,
            think: 1.0,
        },
        phase,
    ));
    out
}

/// A closed-loop scenario: `clients` on `model` with `workers` workers,
/// three phases long (no arrivals besides them).
pub(crate) fn closed(
    name: &'static str,
    title: String,
    model: Model,
    workers: usize,
    clients: Closed,
    phase: f64,
) -> Workload {
    Workload {
        name,
        title,
        batch: 0,
        phases: vec![Phase {
            start: 0.0,
            capacity: workers,
            rate: 0.0,
        }],
        duration: 3.0 * phase,
        model,
        closed: Some(clients),
    }
}

/// One model's results.
pub struct Outcome {
    /// The scenario.
    pub workload: Workload,
    /// The contenders, the oracle last.
    pub contenders: Vec<Contender>,
    /// Medians over the seeds, per contender.
    pub metrics: Vec<Metrics>,
    /// How the oracle was chosen.
    pub oracle_note: String,
}

/// The oracle of `workload`: the fixed pool following the true capacity at
/// the multiple of [`ORACLE_SCALES`] with the highest median goodput over
/// `seeds` (hindsight: it knows the server); and a line listing every
/// candidate's median goodput and failed fraction.
pub fn oracle(workload: &Workload, seeds: &[u64]) -> (Contender, String) {
    let jobs: Vec<(f64, u64)> = ORACLE_SCALES
        .iter()
        .flat_map(|&f| seeds.iter().map(move |&s| (f, s)))
        .collect();
    let measured = crate::par_map(&jobs, |&(f, seed)| {
        let c = Contender {
            name: String::new(),
            policy: Policy::Capacity(f),
        };
        let m = crate::metrics::measure(workload, &crate::sim::run(workload, &c, seed), None);
        (m.goodput, m.failed_fraction)
    });
    let mut best = (f64::NEG_INFINITY, 1.0);
    let mut candidates = Vec::new();
    for (k, &f) in ORACLE_SCALES.iter().enumerate() {
        let these = &measured[k * seeds.len()..(k + 1) * seeds.len()];
        let median = |pick: fn(&(f64, f64)) -> f64| {
            crate::metrics::median(&these.iter().map(pick).collect::<Vec<_>>())
        };
        let g = median(|m| m.0);
        if g > best.0 {
            best = (g, f);
        }
        candidates.push((f, g, median(|m| m.1)));
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let note = format!(
        "Oracle candidates (× true capacity: median goodput/s, failed): {}",
        candidates
            .iter()
            .map(|(f, g, x)| format!("{f}×: {g:.1} ({:.1}%)", 100.0 * x))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let f = best.1;
    let sizes: Vec<String> = {
        let mut v: Vec<usize> = workload
            .phases
            .iter()
            .map(|p| {
                ((workload.model.capacity_limit(p.capacity) as f64 * f).round() as usize).max(1)
            })
            .collect();
        v.dedup();
        v.iter().map(usize::to_string).collect()
    };
    let oracle = Contender {
        name: format!("oracle {f}× ({})", sizes.join(" → ")),
        policy: if f == 1.0 {
            Policy::Oracle
        } else {
            Policy::Capacity(f)
        },
    };
    (oracle, note)
}

/// Runs the family; writes the plots of [`PLOTTED`] unless `no_plots`.
pub fn run(options: &crate::Options) -> Vec<Outcome> {
    let seeds = options.seed_list();
    let mut out = Vec::new();
    let models = if options.blind {
        crate::blind::scenarios(options.phase)
    } else if options.late {
        crate::late::scenarios(options.phase)
    } else if options.fresh {
        crate::fresh::scenarios(options.phase)
    } else if options.holdout {
        crate::holdout::scenarios(options.phase)
    } else {
        scenarios(options.phase)
    };
    let models: Vec<Workload> = models
        .into_iter()
        .filter(|w| options.only.is_empty() || options.only.iter().any(|n| n == w.name))
        .collect();
    if options.trace {
        for w in &models {
            trace(w, &seeds, options.min);
        }
        return out;
    }
    for w in models {
        let t = std::time::Instant::now();
        let mut contenders = contenders(options.min, max_for(&w));
        let (best, oracle_note) = oracle(&w, &seeds);
        *contenders.last_mut().expect("the oracle") = best;
        let (runs, metrics) = crate::evaluate(&w, &contenders, &seeds);
        eprintln!("{}: {:.1} s", w.name, t.elapsed().as_secs_f64());
        if !options.no_plots && PLOTTED.contains(&w.name) {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plots");
            let first: Vec<&Run> = runs.iter().map(|r| &r[0]).collect();
            match crate::plot::write(&dir, &w, &contenders, &first, options.seed_base) {
                Ok(path) => eprintln!("  wrote {}", path.display()),
                Err(e) => eprintln!("  could not write the plot: {e}"),
            }
        }
        out.push(Outcome {
            workload: w,
            contenders,
            metrics,
            oracle_note,
        });
    }
    crate::report::family(options, &out);
    out
}

/// Prints, per seed, a per-second timeline of the pooled contender on
/// `workload`: the mean and highest limit, the mean and highest requests in
/// the server, successes and failures (`--trace`).
fn trace(workload: &Workload, seeds: &[u64], min: Option<usize>) {
    let pooled = contenders(min, max_for(workload)).remove(0);
    let runs = crate::par_map(seeds, |&s| crate::sim::run(workload, &pooled, s));
    for (seed, run) in seeds.iter().zip(&runs) {
        let failed = run
            .calls
            .iter()
            .filter(|c| c.response != crate::server::Response::Ok)
            .count();
        println!("## {} seed {seed}: {failed} failed", workload.name);
        if failed <= 10 {
            for c in run
                .calls
                .iter()
                .filter(|c| c.response != crate::server::Response::Ok)
            {
                println!(
                    "  failed at {:.3} s: {:?} after {:.3} s (from arrival {:.3} s)",
                    c.done, c.response, c.latency, c.e2e
                );
            }
        }
        println!("  s  limit(mean/max)  server(mean/max)  ok  failed");
        let seconds = workload.duration.ceil() as usize;
        for sec in 0..seconds {
            let samples: Vec<_> = run
                .trace
                .iter()
                .filter(|x| x.t >= sec as f64 && x.t < sec as f64 + 1.0)
                .collect();
            let calls: Vec<_> = run
                .calls
                .iter()
                .filter(|c| c.done >= sec as f64 && c.done < sec as f64 + 1.0)
                .collect();
            let n = samples.len().max(1) as f64;
            let limit = samples.iter().filter_map(|x| x.limit).sum::<usize>() as f64 / n;
            let top = samples.iter().filter_map(|x| x.limit).max().unwrap_or(0);
            let inside = samples.iter().map(|x| x.in_flight).sum::<usize>() as f64 / n;
            let most = samples.iter().map(|x| x.in_flight).max().unwrap_or(0);
            let bad = calls
                .iter()
                .filter(|c| c.response != crate::server::Response::Ok)
                .count();
            println!(
                "{sec:3}  {limit:6.1} {top:4}  {inside:6.1} {most:4}  {:4} {bad:4}",
                calls.len() - bad
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pooled_contender_has_the_builders_min_and_the_oracle_is_last() {
        let c = contenders(None, MAX);
        assert_eq!(c.len(), 5);
        assert!(matches!(c[0].policy, Policy::Adaptive(a) if a.min == 3 && a.max == MAX));
        assert_eq!(c.last().unwrap().policy, Policy::Oracle);
    }

    #[test]
    fn every_oracle_limit_fits_under_max_and_every_model_is_overloaded_then_not() {
        for w in scenarios(10.0) {
            assert_eq!(max_for(&w), MAX, "{}", w.name);
            for p in &w.phases {
                assert!(w.model.capacity_limit(p.capacity) <= MAX, "{}", w.name);
            }
            if w.closed.is_none() {
                let caps: Vec<f64> = w
                    .phases
                    .iter()
                    .map(|p| p.rate / w.model.throughput(p.capacity))
                    .collect();
                assert!(caps.iter().any(|x| *x > 1.0), "{}", w.name);
                assert!(caps.iter().any(|x| *x < 1.0), "{}", w.name);
            }
        }
    }

    #[test]
    fn every_sets_contender_has_a_max_above_every_capacity_of_its_model() {
        let sets = [
            scenarios(10.0),
            crate::holdout::scenarios(10.0),
            crate::fresh::scenarios(10.0),
            crate::late::scenarios(10.0),
            crate::blind::scenarios(10.0),
        ];
        for w in sets.iter().flatten() {
            let max = max_for(w);
            for p in &w.phases {
                let needed = w.model.capacity_limit(p.capacity);
                assert!(needed < max, "{}: {needed} vs max {max}", w.name);
            }
            // A 1.25× oracle fits too (`ORACLE_SCALES`' largest).
            assert!(
                w.phases
                    .iter()
                    .all(|p| (w.model.capacity_limit(p.capacity) as f64 * 1.25) <= max as f64),
                "{}",
                w.name
            );
        }
        let long = crate::late::scenarios(10.0)
            .into_iter()
            .find(|w| w.name == "long-link")
            .unwrap();
        assert_eq!(max_for(&long), 512);
        for w in sets.iter().flatten().filter(|w| w.name != "long-link") {
            assert_eq!(max_for(w), MAX, "{}", w.name);
        }
    }

    #[test]
    fn the_oracle_follows_the_capacity_drop() {
        let w = scenarios(4.0)
            .into_iter()
            .find(|w| w.name == "cap-drop")
            .unwrap();
        let oracle = contenders(None, MAX).pop().unwrap();
        let run = crate::sim::run(&w, &oracle, 0);
        let at = |t: f64| {
            run.trace
                .iter()
                .find(|s| s.t >= t)
                .and_then(|s| s.limit)
                .unwrap()
        };
        assert_eq!((at(1.0), at(5.0), at(9.0)), (32, 8, 32));
    }

    #[test]
    fn a_peer_drives_the_pool_size() {
        let w = scenarios(4.0)
            .into_iter()
            .find(|w| w.name == "jitter")
            .unwrap();
        let arc = Contender {
            name: String::new(),
            policy: Policy::Peer(Peer::Arc),
        };
        let run = crate::sim::run(&w, &arc, 0);
        // Vector's ARC starts at 1 and adds one per RTT while at its limit.
        assert_eq!(run.trace[0].limit, Some(1));
        let top = run.trace.iter().filter_map(|s| s.limit).max().unwrap();
        assert!(top > 4, "{top}");
        assert!(run.calls.len() > 100);
    }

    #[test]
    fn the_oracle_is_the_best_multiple_of_the_capacity() {
        let w = scenarios(4.0)
            .into_iter()
            .find(|w| w.name == "cap-drop")
            .unwrap();
        let (o, note) = oracle(&w, &[0]);
        assert!(note.contains("1.25×"), "{note}");
        assert!(o.name.starts_with("oracle"), "{}", o.name);
        assert!(o.policy.capacity_scale().is_some());
    }
}
