//! A fourth set of server models (`--family --late`), written in a later
//! session, after the policy and every earlier set, and committed before any
//! contender was run on them (see the commit that adds this file): the
//! family's mechanisms at scales and in combinations no earlier set has —
//! a server of two workers, a quick deferring front end, a load shedder
//! close to its workers, a token bucket with almost no burst, a wide
//! jittery link, capacity that rises 4 → 12 → 24, a steep exponential knee,
//! a 600 ms link, a narrow fail-fast server, and a closed loop on a
//! thrashing server.
//!
//! No parameter is ever chosen from these runs; they check that the policy
//! generalises, recorded in `sim/RESULTS.md` as measured. The targets and
//! the oracle are the family's (see [`crate::family`]).

use crate::family::{capacity_steps, closed, open};
use crate::server::{Admission, Knee, Link, Model};
use crate::sim::{Closed, Workload};

/// The late models, with phases `phase` seconds long.
pub fn scenarios(phase: f64) -> Vec<Workload> {
    let base = Model::default();
    let mut out = vec![
        open(
            "two-workers",
            "(L1) two workers, service 50 ms, linear knee",
            Model { mean: 0.05, ..base },
            2,
            phase,
        ),
        open(
            "defer-quick",
            "(L2) 16 workers, service 5 ms; past 24 in the server, 'overloaded' after 20 ms",
            Model {
                mean: 0.005,
                admission: Admission::Defer {
                    limit: 24,
                    delay: 0.02,
                },
                ..base
            },
            16,
            phase,
        ),
        open(
            "drop-near",
            "(L3) 4 workers; past 6 in the server, no answer (client timeout 1 s)",
            Model {
                admission: Admission::Drop { limit: 6 },
                ..base
            },
            4,
            phase,
        ),
        open(
            "rate-no-burst",
            "(L4) token bucket 300/s, burst 5, instant 429; 32 workers",
            Model {
                admission: Admission::RateLimit {
                    rate: 300.0,
                    burst: 5.0,
                },
                ..base
            },
            32,
            phase,
        ),
        open(
            "jitter-wide",
            "(L5) link delay uniform 0–300 ms",
            Model {
                link: Link::Jitter { max: 0.3 },
                ..base
            },
            8,
            phase,
        ),
        open(
            "steep-knee",
            "(L7) exponential knee, slope 2",
            Model {
                knee: Knee::Exponential,
                knee_slope: 2.0,
                ..base
            },
            8,
            phase,
        ),
        // (The first run had a 1 s link: as long as the client's timeout,
        // so no call of any contender, the oracle's included, ever came
        // back in time. A model nobody can serve measures nothing; the link
        // is 0.6 s, still the longest of any set.)
        open(
            "long-link",
            "(L8) the default server (queue of 64, then 503) behind a fixed 600 ms link; 16 workers",
            Model {
                link: Link::Fixed(0.6),
                ..base
            },
            16,
            phase,
        ),
        open(
            "narrow-fail-fast",
            "(L9) 4 workers; past 4 in the server, instant 503",
            Model {
                admission: Admission::FailFast { limit: 4 },
                ..base
            },
            4,
            phase,
        ),
    ];
    // (L6): capacity rises 4 → 12 → 24 under a constant rate: 3× the
    // small server, about the middle one, half the large one.
    let rate = 0.5 * base.throughput(24);
    out.insert(
        5,
        capacity_steps(
            "cap-ramp",
            format!(
                "(L6) workers 4 → 12 → 24; Poisson {rate:.0}/s (3× → 1× → 0.5×; oracle 4 → 12 → 24)"
            ),
            base,
            [4, 12, 24],
            rate,
            phase,
        ),
    );
    out.push(closed(
        "closed-thrash",
        "(L10) closed loop: 50 clients, think time 100 ms (exponential), on an exponential knee (slope 1), 8 workers".into(),
        Model {
            knee: Knee::Exponential,
            knee_slope: 1.0,
            ..base
        },
        8,
        Closed {
            clients: 50,
            think: 0.1,
        },
        phase,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_late_models_are_named_apart_from_the_others() {
        let others: Vec<_> = crate::family::scenarios(1.0)
            .into_iter()
            .chain(crate::holdout::scenarios(1.0))
            .chain(crate::fresh::scenarios(1.0))
            .map(|w| w.name)
            .collect();
        let late = scenarios(1.0);
        assert_eq!(late.len(), 10);
        for w in &late {
            assert!(!others.contains(&w.name), "{} is taken", w.name);
        }
    }
}
