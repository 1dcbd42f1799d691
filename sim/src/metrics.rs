//! What a run says about a contender: goodput, failures, latency,
//! convergence after capacity changes, goodput stability.

use crate::server::Response;
use crate::sim::{Run, Workload, SAMPLE_EVERY};

/// Seconds after a phase starts that are left out of its steady state.
pub const SETTLE: f64 = 10.0;
/// How long the server must stay within `2 c` in flight (while delivering
/// at least [`DROP_FRACTION`] of the oracle's goodput) to count as re-converged.
pub const SUSTAIN: f64 = 3.0;
/// Fraction of the oracle's goodput a re-converged contender must deliver
/// (so that a contender that has stopped calling does not count).
pub const DROP_FRACTION: f64 = 0.5;
/// Fraction of the oracle's goodput a rise must reach.
pub const RISE_FRACTION: f64 = 0.8;

/// The numbers of one run (or the medians of several).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Successful calls per second over the whole run.
    pub goodput: f64,
    /// Successful calls per second over the steady parts of the phases
    /// (each phase without its first [`SETTLE`] seconds).
    pub steady_goodput: f64,
    /// Successful calls per second in each phase's steady part.
    pub phase_goodput: Vec<f64>,
    /// Calls answered "overloaded" or timed out by the client.
    pub failed: f64,
    /// `failed` over the calls that got an answer.
    pub failed_fraction: f64,
    /// Calls that arrived.
    pub arrived: f64,
    /// Mean request latency (admission to answer) of successful calls, s.
    pub mean: f64,
    /// Median request latency (admission to answer) of successful calls, s.
    pub p50: f64,
    /// 99th percentile of the same, s.
    pub p99: f64,
    /// Mean latency of successful calls from arrival (pool wait included), s.
    pub mean_e2e: f64,
    /// 99th percentile latency of successful calls from arrival (pool wait
    /// included), s.
    pub p99_e2e: f64,
    /// The pool's mean limit over each phase (sampled every
    /// [`SAMPLE_EVERY`]; NaN without a pool).
    pub phase_limit: Vec<f64>,
    /// For each phase whose capacity is lower than the previous one: seconds
    /// until the server holds at most `2 c` requests for [`SUSTAIN`] seconds
    /// while the contender delivers at least [`DROP_FRACTION`] of the
    /// oracle's goodput over them (infinite: never).
    pub converge_drop: Vec<f64>,
    /// For each phase whose capacity is higher: seconds until a 1 s window
    /// has delivered [`RISE_FRACTION`] of the oracle's steady goodput.
    pub converge_rise: Vec<f64>,
    /// Goodput stability: coefficient of variation of 1 s goodput buckets
    /// over each phase's steady part, averaged over the phases (phases
    /// without any success are left out; NaN if all are).
    pub cv: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Median of `values` (infinities sort last; NaN-free input).
pub fn median(values: &[f64]) -> f64 {
    let v = sorted(values.to_vec());
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 || v[n / 2 - 1].is_infinite() || v[n / 2].is_infinite() {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn successes_between(run: &Run, from: f64, to: f64) -> usize {
    run.calls
        .iter()
        .filter(|c| c.response == Response::Ok && c.done >= from && c.done < to)
        .count()
}

/// The steady part of phase `i`: `[start + SETTLE, end)`.
pub fn steady(workload: &Workload, i: usize) -> (f64, f64) {
    let (start, end) = (workload.phases[i].start, workload.phase_end(i));
    ((start + SETTLE).min(end), end)
}

/// Measures `run`; `oracle` is the oracle's run of the same seed (for the
/// rise target), or `None` when measuring the oracle itself.
pub fn measure(workload: &Workload, run: &Run, oracle: Option<&Run>) -> Metrics {
    let ok: Vec<_> = run
        .calls
        .iter()
        .filter(|c| c.response == Response::Ok)
        .collect();
    let failed = run.calls.len() - ok.len();
    let latencies = sorted(ok.iter().map(|c| c.latency).collect());
    let e2e = sorted(ok.iter().map(|c| c.e2e).collect());

    let phases = 0..workload.phases.len();
    let phase_limit = phases
        .clone()
        .map(|i| {
            let (from, to) = (workload.phases[i].start, workload.phase_end(i));
            let limits: Vec<f64> = run
                .trace
                .iter()
                .filter(|s| s.t >= from && s.t < to)
                .filter_map(|s| s.limit.map(|l| l as f64))
                .collect();
            mean(&limits)
        })
        .collect();
    let phase_goodput: Vec<f64> = phases
        .clone()
        .map(|i| {
            let (from, to) = steady(workload, i);
            successes_between(run, from, to) as f64 / (to - from).max(f64::MIN_POSITIVE)
        })
        .collect();
    let (steady_ok, steady_len) = phases.clone().fold((0, 0.0), |(n, len), i| {
        let (from, to) = steady(workload, i);
        (n + successes_between(run, from, to), len + (to - from))
    });

    let mut cvs = Vec::new();
    for i in phases.clone() {
        let (from, to) = steady(workload, i);
        let buckets: Vec<f64> = (0..(to - from).floor() as usize)
            .map(|k| {
                let b = from + k as f64;
                successes_between(run, b, b + 1.0) as f64
            })
            .collect();
        if buckets.len() < 2 {
            continue;
        }
        let mean = buckets.iter().sum::<f64>() / buckets.len() as f64;
        let var =
            buckets.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (buckets.len() - 1) as f64;
        if mean > 0.0 {
            cvs.push(var.sqrt() / mean);
        }
    }

    let mut converge_drop = Vec::new();
    let mut converge_rise = Vec::new();
    for i in phases.skip(1) {
        let (prev, phase) = (workload.phases[i - 1], workload.phases[i]);
        let end = workload.phase_end(i);
        let reference = match oracle {
            Some(oracle) => {
                let (from, to) = steady(workload, i);
                successes_between(oracle, from, to) as f64 / (to - from)
            }
            None => phase_goodput[i],
        };
        if phase.capacity < prev.capacity {
            converge_drop.push(converge_after_drop(
                run,
                (phase.start, end),
                phase.capacity,
                reference,
            ));
        } else if phase.capacity > prev.capacity {
            converge_rise.push(converge_after_rise(run, phase.start, end, reference));
        }
    }

    Metrics {
        goodput: ok.len() as f64 / workload.duration,
        steady_goodput: steady_ok as f64 / steady_len,
        phase_goodput,
        failed: failed as f64,
        failed_fraction: failed as f64 / run.calls.len().max(1) as f64,
        arrived: run.arrived as f64,
        mean: mean(&latencies),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        mean_e2e: mean(&e2e),
        p99_e2e: percentile(&e2e, 0.99),
        phase_limit,
        converge_drop,
        converge_rise,
        cv: if cvs.is_empty() {
            f64::NAN
        } else {
            cvs.iter().sum::<f64>() / cvs.len() as f64
        },
    }
}

/// Seconds after `start` from which the server holds at most `2 c` requests
/// for [`SUSTAIN`] seconds, over which the contender delivers at least
/// [`DROP_FRACTION`] of `reference` (the oracle's goodput).
fn converge_after_drop(
    run: &Run,
    (start, end): (f64, f64),
    capacity: usize,
    reference: f64,
) -> f64 {
    let samples: Vec<_> = run
        .trace
        .iter()
        .filter(|s| s.t >= start && s.t < end)
        .collect();
    let within: Vec<bool> = samples
        .iter()
        .map(|s| s.in_flight <= 2 * capacity)
        .collect();
    let per_sample = SAMPLE_EVERY;
    let span = (SUSTAIN / per_sample).round() as usize;
    for i in 0..samples.len().saturating_sub(span) {
        let from = samples[i].t;
        if within[i..=i + span].iter().all(|w| *w)
            && successes_between(run, from, from + SUSTAIN) as f64
                >= DROP_FRACTION * reference * SUSTAIN
        {
            return from - start;
        }
    }
    f64::INFINITY
}

/// Seconds after `start` until a 1 s window (sliding by 0.1 s) has delivered
/// `RISE_FRACTION * reference` successful calls; the window's end is reported.
fn converge_after_rise(run: &Run, start: f64, end: f64, reference: f64) -> f64 {
    let need = RISE_FRACTION * reference;
    let mut k = 0;
    loop {
        let from = start + k as f64 * 0.1;
        if from + 1.0 > end {
            return f64::INFINITY;
        }
        if successes_between(run, from, from + 1.0) as f64 >= need {
            return from + 1.0 - start;
        }
        k += 1;
    }
}

/// The medians over seeds, metric by metric.
pub fn medians(all: &[Metrics]) -> Metrics {
    let m = |f: &dyn Fn(&Metrics) -> f64| median(&all.iter().map(f).collect::<Vec<_>>());
    let each = |len: usize, f: &dyn Fn(&Metrics, usize) -> f64| -> Vec<f64> {
        (0..len)
            .map(|i| median(&all.iter().map(|x| f(x, i)).collect::<Vec<_>>()))
            .collect()
    };
    let first = &all[0];
    Metrics {
        goodput: m(&|x| x.goodput),
        steady_goodput: m(&|x| x.steady_goodput),
        phase_goodput: each(first.phase_goodput.len(), &|x, i| x.phase_goodput[i]),
        failed: m(&|x| x.failed),
        failed_fraction: m(&|x| x.failed_fraction),
        arrived: m(&|x| x.arrived),
        mean: m(&|x| x.mean),
        p50: m(&|x| x.p50),
        p99: m(&|x| x.p99),
        mean_e2e: m(&|x| x.mean_e2e),
        p99_e2e: m(&|x| x.p99_e2e),
        phase_limit: each(first.phase_limit.len(), &|x, i| x.phase_limit[i]),
        converge_drop: each(first.converge_drop.len(), &|x, i| x.converge_drop[i]),
        converge_rise: each(first.converge_rise.len(), &|x, i| x.converge_rise[i]),
        cv: m(&|x| x.cv),
    }
}
