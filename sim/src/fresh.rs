//! A third set of server models (`--family --fresh`), written after the
//! second adaptive policy and its holdout round, and fixed before any
//! contender was run on them: the mechanisms of the family at scales and in
//! combinations neither the family nor the holdout set has — a single slow
//! worker, sixty-four fast ones, a wide fail-fast server, a load shedder
//! behind a long fixed link, a slow deferring front end, capacity that
//! swings by 4×, an exponential knee under heavy tails, a loose token
//! bucket, a long fixed link in front of the queueing server, and a closed
//! loop of many clients.
//!
//! As with the holdout set, no parameter is ever chosen from these runs;
//! they are a check that the policy generalises, recorded in
//! `sim/RESULTS.md` as measured. The targets and the oracle are the
//! family's (see [`crate::family`]).

use crate::family::{capacity_steps, closed, open};
use crate::server::{Admission, Knee, Link, Model};
use crate::sim::{Closed, Workload};

/// The fresh models, with phases `phase` seconds long.
pub fn scenarios(phase: f64) -> Vec<Workload> {
    let base = Model::default();
    let mut out = vec![
        open(
            "one-worker",
            "(F1) one worker, service 100 ms, linear knee",
            Model { mean: 0.1, ..base },
            1,
            phase,
        ),
        open(
            "many-fast",
            "(F2) 64 workers, service 2 ms, linear knee",
            Model {
                mean: 0.002,
                ..base
            },
            64,
            phase,
        ),
        open(
            "wide-fail-fast",
            "(F3) 32 workers; past 40 in the server, instant 503",
            Model {
                admission: Admission::FailFast { limit: 40 },
                ..base
            },
            32,
            phase,
        ),
        open(
            "drop-far",
            "(F4) past 12 in the server, no answer (client timeout 1 s), behind a fixed 100 ms link",
            Model {
                admission: Admission::Drop { limit: 12 },
                link: Link::Fixed(0.1),
                ..base
            },
            8,
            phase,
        ),
        open(
            "defer-slow",
            "(F5) 4 workers, service 200 ms; past 6 in the server, 'overloaded' after 500 ms",
            Model {
                mean: 0.2,
                admission: Admission::Defer {
                    limit: 6,
                    delay: 0.5,
                },
                ..base
            },
            4,
            phase,
        ),
        open(
            "exp-heavy",
            "(F7) exponential knee (slope 0.5) under lognormal σ = 1",
            Model {
                sigma: 1.0,
                knee: Knee::Exponential,
                knee_slope: 0.5,
                ..base
            },
            8,
            phase,
        ),
        open(
            "loose-rate",
            "(F8) token bucket 100/s, burst 50, instant 429; 16 workers",
            Model {
                admission: Admission::RateLimit {
                    rate: 100.0,
                    burst: 50.0,
                },
                ..base
            },
            16,
            phase,
        ),
        open(
            "far-queue",
            "(F9) the default server (queue of 64, then 503) behind a fixed 300 ms link",
            Model {
                link: Link::Fixed(0.3),
                ..base
            },
            8,
            phase,
        ),
    ];
    // (F6): capacity swings 16 → 4 → 16 under a constant rate that
    // half-loads the large server and overloads the small one 2×.
    let rate = 0.5 * base.throughput(16);
    out.insert(
        5,
        capacity_steps(
            "cap-swing",
            format!(
                "(F6) workers 16 → 4 → 16; Poisson {rate:.0}/s (0.5× → 2× → 0.5×; oracle 16 → 4 → 16)"
            ),
            base,
            [16, 4, 16],
            rate,
            phase,
        ),
    );
    out.push(closed(
        "closed-many",
        "(F10) closed loop: 200 clients, think time 20 ms (exponential), on the default server (8 workers)".into(),
        base,
        8,
        Closed {
            clients: 200,
            think: 0.02,
        },
        phase,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fresh_models_are_named_apart_from_the_others() {
        let others: Vec<_> = crate::family::scenarios(1.0)
            .into_iter()
            .chain(crate::holdout::scenarios(1.0))
            .map(|w| w.name)
            .collect();
        let fresh = scenarios(1.0);
        assert_eq!(fresh.len(), 10);
        for w in &fresh {
            assert!(!others.contains(&w.name), "{} is taken", w.name);
        }
    }
}
