//! A fifth set of server models (`--family --blind`), written in the session
//! of 2026-11-30 after the policy and every earlier set, and committed before
//! any contender was run on them (see the commit that adds this file). Each
//! combines mechanisms no earlier set puts together, at new scales: a wide
//! slow server, deferral behind a fixed link, drops behind a jittery link, a
//! token bucket with one token of burst under a faster server, fail-fast on
//! heavy tails, a 4× capacity dip, an exponential knee behind a fixed link, a
//! single quick worker, deferral under heavy tails, and a closed loop on a
//! fail-fast server.
//!
//! No parameter is ever chosen from these runs; they check that the policy
//! generalises, recorded in `sim/RESULTS.md` as measured. The targets and
//! the oracle are the family's (see [`crate::family`]).

use crate::family::{capacity_steps, closed, open};
use crate::server::{Admission, Knee, Link, Model};
use crate::sim::{Closed, Workload};

/// The blind models, with phases `phase` seconds long.
pub fn scenarios(phase: f64) -> Vec<Workload> {
    let base = Model::default();
    let mut out = vec![
        open(
            "wide-slow",
            "(B1) 32 workers, service 150 ms, linear knee",
            Model { mean: 0.15, ..base },
            32,
            phase,
        ),
        open(
            "defer-link",
            "(B2) 8 workers; past 10 in the server, 'overloaded' after 150 ms; behind a fixed 50 ms link",
            Model {
                admission: Admission::Defer {
                    limit: 10,
                    delay: 0.15,
                },
                link: Link::Fixed(0.05),
                ..base
            },
            8,
            phase,
        ),
        open(
            "drop-jitter",
            "(B3) 8 workers; past 10 in the server, no answer (client timeout 1 s); link 0–80 ms",
            Model {
                admission: Admission::Drop { limit: 10 },
                link: Link::Jitter { max: 0.08 },
                ..base
            },
            8,
            phase,
        ),
        open(
            "rate-one-token",
            "(B4) token bucket 200/s, burst 1, instant 429; 16 workers",
            Model {
                admission: Admission::RateLimit {
                    rate: 200.0,
                    burst: 1.0,
                },
                ..base
            },
            16,
            phase,
        ),
        open(
            "fail-fast-heavy",
            "(B5) 8 workers, lognormal σ = 1.2; past 10 in the server, instant 503",
            Model {
                sigma: 1.2,
                admission: Admission::FailFast { limit: 10 },
                ..base
            },
            8,
            phase,
        ),
        open(
            "exp-link",
            "(B7) exponential knee (slope 1) behind a fixed 200 ms link",
            Model {
                knee: Knee::Exponential,
                knee_slope: 1.0,
                link: Link::Fixed(0.2),
                ..base
            },
            8,
            phase,
        ),
        open(
            "single-quick",
            "(B8) one worker, service 10 ms (σ 0.5), linear knee",
            Model { mean: 0.01, ..base },
            1,
            phase,
        ),
        open(
            "defer-heavy",
            "(B9) 16 workers, lognormal σ = 1; past 20 in the server, 'overloaded' after 50 ms",
            Model {
                sigma: 1.0,
                admission: Admission::Defer {
                    limit: 20,
                    delay: 0.05,
                },
                ..base
            },
            16,
            phase,
        ),
    ];
    // (B6): capacity dips 12 → 3 → 12 under a constant rate: 0.75× the
    // full server, 3× the dipped one.
    let rate = 0.75 * base.throughput(12);
    out.insert(
        5,
        capacity_steps(
            "cap-dip",
            format!(
                "(B6) workers 12 → 3 → 12; Poisson {rate:.0}/s (0.75× → 3× → 0.75×; oracle 12 → 3 → 12)"
            ),
            base,
            [12, 3, 12],
            rate,
            phase,
        ),
    );
    out.push(closed(
        "closed-fail-fast",
        "(B10) closed loop: 100 clients, think time 50 ms (exponential), on a server of 8 workers that answers 503 at once past 12".into(),
        Model {
            admission: Admission::FailFast { limit: 12 },
            ..base
        },
        8,
        Closed {
            clients: 100,
            think: 0.05,
        },
        phase,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blind_models_are_named_apart_from_the_others() {
        let others: Vec<_> = crate::family::scenarios(1.0)
            .into_iter()
            .chain(crate::holdout::scenarios(1.0))
            .chain(crate::fresh::scenarios(1.0))
            .chain(crate::late::scenarios(1.0))
            .map(|w| w.name)
            .collect();
        let blind = scenarios(1.0);
        assert_eq!(blind.len(), 10);
        for w in &blind {
            assert!(!others.contains(&w.name), "{} is taken", w.name);
        }
    }
}
