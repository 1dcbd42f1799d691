//! Server models the adaptive policy was never tuned on (`--family
//! --holdout`): the family's mechanisms at other scales and in other
//! combinations — a server ten times faster and one six times slower than
//! the family's, one with six times its workers and one with two, capacity
//! that rises instead of falling, heavy tails under a knee, an exponential
//! knee behind a jittery link, a tight rate limit, the default queueing
//! server behind jitter, and a small closed loop.
//!
//! They exist to find counter-examples: a change to the policy is judged on
//! the family (`--family`) and then checked here, and no parameter is ever
//! chosen from these runs (`sim/RESULTS.md` records them as they come).
//! The targets and the oracle are the family's (see [`crate::family`]).

use crate::family::{capacity_steps, closed, open};
use crate::server::{Admission, Knee, Link, Model};
use crate::sim::{Closed, Workload};

/// The holdout models, with phases `phase` seconds long.
pub fn scenarios(phase: f64) -> Vec<Workload> {
    let base = Model::default();
    let mut out = vec![
        open(
            "fast",
            "(H1) service 5 ms, 4 workers, linear knee",
            Model {
                mean: 0.005,
                ..base
            },
            4,
            phase,
        ),
        open(
            "slow",
            "(H2) service 300 ms (σ 0.3), 16 workers, linear knee",
            Model {
                mean: 0.3,
                sigma: 0.3,
                ..base
            },
            16,
            phase,
        ),
        open(
            "wide-defer",
            "(H3) 48 workers; past 64 in the server, 'overloaded' after 100 ms",
            Model {
                admission: Admission::Defer {
                    limit: 64,
                    delay: 0.1,
                },
                ..base
            },
            48,
            phase,
        ),
        open(
            "narrow-drop",
            "(H4) 2 workers; past 3 in the server, no answer (client timeout 1 s)",
            Model {
                admission: Admission::Drop { limit: 3 },
                ..base
            },
            2,
            phase,
        ),
        open(
            "heavy-knee",
            "(H6) lognormal σ = 1 and a steep linear knee (slope 1)",
            Model {
                sigma: 1.0,
                knee_slope: 1.0,
                ..base
            },
            8,
            phase,
        ),
        open(
            "exp-jitter",
            "(H7) exponential knee behind a link of 0–50 ms",
            Model {
                knee: Knee::Exponential,
                knee_slope: 1.0,
                link: Link::Jitter { max: 0.05 },
                ..base
            },
            8,
            phase,
        ),
        open(
            "tight-rate",
            "(H8) token bucket 40/s, burst 2, instant 429; 16 workers",
            Model {
                admission: Admission::RateLimit {
                    rate: 40.0,
                    burst: 2.0,
                },
                ..base
            },
            16,
            phase,
        ),
        open(
            "queue-jitter",
            "(H9) the default server (queue of 64, then 503) behind a link of 0–200 ms",
            Model {
                link: Link::Jitter { max: 0.2 },
                ..base
            },
            8,
            phase,
        ),
    ];
    // (H5): capacity rises and falls back under a constant rate that
    // overloads the small server and half-loads the large one.
    let rate = 1.5 * base.throughput(8);
    out.insert(
        4,
        capacity_steps(
            "cap-rise",
            format!(
                "(H5) workers 8 → 24 → 8; Poisson {rate:.0}/s (1.5× → 0.5× → 1.5×; oracle 8 → 24 → 8)"
            ),
            base,
            [8, 24, 8],
            rate,
            phase,
        ),
    );
    out.push(closed(
        "closed-few",
        "(H10) closed loop: 24 clients, think time 100 ms (exponential), on the default server (8 workers)".into(),
        base,
        8,
        Closed {
            clients: 24,
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
    fn the_holdout_models_are_named_apart_from_the_family() {
        let family: Vec<_> = crate::family::scenarios(1.0)
            .into_iter()
            .map(|w| w.name)
            .collect();
        let holdout = scenarios(1.0);
        assert_eq!(holdout.len(), 10);
        for w in &holdout {
            assert!(!family.contains(&w.name), "{} is a family name", w.name);
        }
    }
}
