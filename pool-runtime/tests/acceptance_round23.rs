//! Acceptance tests, round 23 (runtime): the adaptive policy's rule for
//! "drops the limit does not cause" (`pool-runtime/src/scale/adaptive.rs`
//! module docs, README's Adaptive autoscale bullet), through a real pool on
//! a manual clock: a server model answers each admitted call after a fixed
//! latency (with a little deterministic jitter) and refuses some of them,
//! judged by `submit_judged`; the clock jumps from one answer to the next.
//! The limit is read from outside (`Pool::size`) after every answer and
//! must stay within `[min, max]` throughout. Also: every adaptive parameter's
//! range at its edges on `AdaptiveSettings::validate`, the builder, and every
//! configuration surface (`[defaults]`, a group's table, its variable).
#![cfg(not(miri))]

mod common;

use common::{assert_accounted, Task};
use futures::channel::oneshot;
use pool_runtime::{AdaptiveSettings, Clock, Kind, ManualClock, Pool, ScalePolicy, Verdict};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

type Call<'a> = Task<Pin<Box<dyn Future<Output = Result<bool, pool_runtime::Rejected>> + 'a>>>;

/// A call in flight: its future, when the pool admitted it, when the server
/// answers it and whether it refuses it (drawn at admission).
struct InFlight<'a> {
    task: Call<'a>,
    admitted: Rc<Cell<Option<Duration>>>,
    answer_at: Option<Duration>,
    refused: bool,
    answer: Option<oneshot::Sender<bool>>,
}

/// Whether the server refuses a call: given the calls at the server
/// (this one included) and the call's number among those admitted.
type Refuse = Box<dyn FnMut(usize, u64) -> bool>;

struct Bench<'a> {
    pool: &'a Pool,
    clock: ManualClock,
    calls: Vec<InFlight<'a>>,
    draws: u64,
    admitted: u64,
    latency: f64,
    refuse: Refuse,
    bounds: (usize, usize),
}

impl<'a> Bench<'a> {
    fn new(pool: &'a Pool, clock: ManualClock, refuse: Refuse, bounds: (usize, usize)) -> Self {
        Bench {
            pool,
            clock,
            calls: Vec::new(),
            draws: 0x2545_f491_4f6c_dd1d,
            admitted: 0,
            latency: 0.05,
            refuse,
            bounds,
        }
    }

    fn uniform(&mut self) -> f64 {
        let x = &mut self.draws;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        ((*x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn submit(&mut self) {
        let (tx, rx) = oneshot::channel::<bool>();
        let admitted = Rc::new(Cell::new(None));
        let (seen, clock) = (admitted.clone(), self.clock.clone());
        let work = async move {
            seen.set(Some(clock.now()));
            rx.await.unwrap_or(false)
        };
        let task: Call<'a> = Task::new(Box::pin(self.pool.submit_judged(
            0,
            work,
            |refused: &bool| {
                if *refused {
                    Verdict::Overload
                } else {
                    Verdict::Success
                }
            },
        )));
        self.calls.push(InFlight {
            task,
            admitted,
            answer_at: None,
            refused: false,
            answer: Some(tx),
        });
        self.poll_all();
    }

    fn check_bounds(&self) {
        let size = self.pool.size();
        assert!(
            (self.bounds.0..=self.bounds.1).contains(&size),
            "the limit {size} left [{}, {}]",
            self.bounds.0,
            self.bounds.1
        );
    }

    /// Polls every call until none moves: the finished leave, the newly
    /// admitted (a release admits a waiter polled earlier in the pass) draw
    /// their answer.
    fn poll_all(&mut self) {
        while self.poll_pass() {}
        self.check_bounds();
    }

    fn poll_pass(&mut self) -> bool {
        let mut moved = false;
        let mut i = 0;
        while i < self.calls.len() {
            if let std::task::Poll::Ready(out) = self.calls[i].task.poll() {
                out.expect("no call is turned away");
                self.calls.swap_remove(i);
                moved = true;
                continue;
            }
            if let (Some(at), None) = (self.calls[i].admitted.get(), self.calls[i].answer_at) {
                let at_server = self.calls.iter().filter(|c| c.answer_at.is_some()).count() + 1;
                self.admitted += 1;
                let refused = (self.refuse)(at_server, self.admitted);
                let jitter = 0.9 + 0.2 * self.uniform();
                let call = &mut self.calls[i];
                call.refused = refused;
                call.answer_at = Some(at + Duration::from_secs_f64(self.latency * jitter));
                moved = true;
            }
            i += 1;
        }
        moved
    }

    fn answer_next(&mut self) {
        let next = (0..self.calls.len())
            .filter(|&i| self.calls[i].answer_at.is_some())
            .min_by_key(|&i| self.calls[i].answer_at)
            .expect("a call in flight");
        let at = self.calls[next].answer_at.expect("drawn");
        let now = self.clock.now();
        self.clock.advance(at.saturating_sub(now));
        let refused = self.calls[next].refused;
        let _ = self.calls[next].answer.take().expect("once").send(refused);
        self.poll_all();
    }

    /// `n` answers, the pool kept full with `extra` calls waiting for a
    /// slot; `each` sees the limit after every answer.
    fn run(&mut self, n: usize, extra: usize, mut each: impl FnMut(usize)) {
        for _ in 0..n {
            while self.calls.len() < self.pool.size() + extra {
                self.submit();
            }
            self.answer_next();
            each(self.pool.size());
        }
    }

    /// Every call answered and accounted for.
    fn finish(mut self) {
        while !self.calls.is_empty() {
            assert!(
                self.calls.iter().any(|c| c.answer_at.is_some()),
                "calls waiting with none running: {:?}",
                self.pool.stats()
            );
            self.answer_next();
        }
        let s = self.pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    }
}

/// A third of the calls refused at random (the same draws every run),
/// whatever the concurrency: `every` gives the draws a state of their own.
fn a_third_at_random(seed: u64) -> impl FnMut() -> bool {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % 3 == 0
    }
}

fn adaptive_pool(clock: &ManualClock, min: usize, max: usize, size: usize) -> Pool {
    Pool::builder()
        .kind(Kind::Autoscale)
        .min(min)
        .max(max)
        .size(size)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
            // The level that drew drops relaxes within seconds of the
            // manual clock, not half a minute.
            baseline_interval: Duration::from_secs(2),
            ..AdaptiveSettings::DEFAULT
        }))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// adaptive.rs:45-62 "Some servers refuse a share of calls at any
/// concurrency ... when two cuts in a row left the drop rate where it was
/// ... their mean rate is the server's *background*: from then on drops cut
/// only past `drop_tolerance` above it ... and drops within it do not stop
/// the limit from growing"; README:498-500 "Drops that cuts in a row did not
/// lower while they halved the limit ... are taken for the server's
/// background rate, and only drops past it cut." A fifth of the calls
/// refused whatever the concurrency, on a server of fixed latency (no knee
/// below `max`) with a backlog that never lets up: the limit, cut at first,
/// grows again far past where the cuts left it.
#[test]
fn a_fifth_of_calls_refused_at_any_concurrency_does_not_keep_the_limit_down() {
    let clock = ManualClock::new();
    let pool = adaptive_pool(&clock, 1, 64, 16);
    let mut bench = Bench::new(&pool, clock, Box::new(|_, n| n % 5 == 0), (1, 64));
    let mut lowest = usize::MAX;
    bench.run(3_000, 4, |size| lowest = lowest.min(size));
    assert!(
        lowest < 16,
        "the first drops cut the limit: lowest {lowest}"
    );
    let mut highest = 0;
    bench.run(20_000, 4, |size| highest = highest.max(size));
    assert!(
        highest >= 4 * lowest.max(4),
        "the limit grows through the background: lowest {lowest}, then at most {highest}"
    );
    bench.finish();
}

/// adaptive.rs:60-61 "Drops that a cut does lower (a server that refuses
/// what exceeds its capacity) teach no background"; adaptive.rs:38-40 "A
/// server that refuses what exceeds its capacity is met at its capacity,
/// not at half of it". A server that refuses every call past 10 at once:
/// the limit settles near 10, neither running off toward `max` (as it would
/// if those drops were taken for a background) nor sitting at half of it.
#[test]
fn a_server_refusing_past_its_capacity_holds_the_limit_near_that_capacity() {
    let clock = ManualClock::new();
    let pool = adaptive_pool(&clock, 1, 64, 4);
    let mut bench = Bench::new(
        &pool,
        clock,
        Box::new(|at_server, _| at_server > 10),
        (1, 64),
    );
    bench.run(3_000, 4, |_| {});
    let (mut sum, mut count, mut highest) = (0usize, 0usize, 0usize);
    bench.run(10_000, 4, |size| {
        sum += size;
        count += 1;
        highest = highest.max(size);
    });
    let mean = sum as f64 / count as f64;
    assert!(
        highest <= 20,
        "the capacity's drops teach no background: the limit reached {highest}"
    );
    assert!(
        (7.0..=14.0).contains(&mean),
        "met at its capacity (10), not half of it: mean limit {mean:.1}"
    );
    bench.finish();
}

/// adaptive.rs:443-445 (the bound the rule keeps: "The highest drop rate
/// taken for a background: above it the server refuses most calls whatever
/// the limit, and the limit stays cut"); adaptive.rs:54-59 "drops cut only
/// past `drop_tolerance` above it [the background] ... a window of a few
/// calls cuts only on nearly all of them dropped". A server that refuses
/// 19 calls of 20 from the start: no background is learnt and the limit
/// stays cut near `min` rather than growing to `max`.
#[test]
fn a_server_refusing_nearly_every_call_keeps_the_limit_cut() {
    let clock = ManualClock::new();
    let pool = adaptive_pool(&clock, 1, 64, 16);
    let mut bench = Bench::new(&pool, clock, Box::new(|_, n| n % 20 != 0), (1, 64));
    bench.run(2_000, 4, |_| {});
    let mut highest = 0;
    bench.run(10_000, 4, |size| highest = highest.max(size));
    assert!(
        highest <= 8,
        "95% refused is no background: the limit reached {highest}"
    );
    bench.finish();
}

/// As above, but the server first refuses a third of the calls at any
/// concurrency (a background the policy learns: "The background follows the
/// rate of the windows it did not cut, so it fades when the server stops
/// refusing", adaptive.rs:59-60), then goes down to refusing 19 calls of
/// 20. The background must not follow it past the highest rate taken for
/// one (adaptive.rs:443-445): the limit is cut and stays cut.
///
/// Known limit (README, "Known limits"): windows close on a burst of three
/// drops, so a server refusing 95% shows windows of 3 of 4 (75%) among its
/// 3 of 3; two cuts in a row at 75% and 100% average 0.875, under the 0.9
/// cap, and a background learned from them (with the noise allowance of
/// three-call windows) leaves the server uncut: the limit grows to `max`.
/// It passed by the luck of its trajectory until a release that cut the
/// limit stopped handing its slot on by the old limit (adversarial round
/// 32). A cap that allows for the calls a rate stands on (tried: the mean
/// plus two or three standard errors below 0.9) keeps this server cut but
/// also stops the simulator's one-token bucket (`--blind`,
/// `rate-one-token`) from learning its real background of about half the
/// calls: 0.92× → 0.67× of the oracle. Not shipped. It passes again since
/// growth within a step below the level that drew drops is a tenth of a
/// slot per window (acceptance round 50): the mechanism stands, this
/// trajectory no longer meets it; run again so that it stays so.
#[test]
fn a_learnt_background_does_not_follow_a_server_that_goes_down() {
    let clock = ManualClock::new();
    let pool = adaptive_pool(&clock, 1, 64, 16);
    let down = Rc::new(Cell::new(false));
    let is_down = down.clone();
    let mut third = a_third_at_random(0x9e37_79b9_7f4a_7c15);
    let refuse = Box::new(
        move |_, n: u64| {
            if is_down.get() {
                n % 20 != 0
            } else {
                third()
            }
        },
    );
    let mut bench = Bench::new(&pool, clock, refuse, (1, 64));
    let mut highest = 0;
    bench.run(20_000, 4, |size| highest = highest.max(size));
    assert!(
        highest >= 16,
        "a third refused is learnt as a background: the limit reached only {highest}"
    );
    down.set(true);
    bench.run(5_000, 4, |_| {});
    let mut late = 0;
    bench.run(10_000, 4, |size| late = late.max(size));
    assert!(
        late < 32,
        "a server refusing 95% is cut, its drops no background: the limit reached {late}"
    );
    bench.finish();
}

/// adaptive.rs:59-61 "The background follows the rate of the windows it did
/// not cut, so it fades when the server stops refusing. Drops that a cut does
/// lower (a server that refuses what exceeds its capacity) teach no
/// background." A third of the calls refused at any concurrency (a
/// background, the limit grows through it), then none for a long while (it
/// fades), then the server refuses only what exceeds 40 calls (at the limit
/// of 64 a rate within the old background and its noise): those drops cut
/// the limit to near 40, as on a server that never had a background.
#[test]
fn a_background_fades_when_the_server_stops_refusing() {
    let clock = ManualClock::new();
    let pool = adaptive_pool(&clock, 1, 64, 16);
    // 0: a third refused; 1: none; 2: past 40 at the server.
    let phase = Rc::new(Cell::new(0u8));
    let now = phase.clone();
    let mut third = a_third_at_random(0x9e37_79b9_7f4a_7c15);
    let refuse = Box::new(move |at_server: usize, _| match now.get() {
        0 => third(),
        1 => false,
        _ => at_server > 40,
    });
    let mut bench = Bench::new(&pool, clock, refuse, (1, 64));
    let mut highest = 0;
    bench.run(20_000, 4, |size| highest = highest.max(size));
    assert!(
        highest >= 32,
        "a third refused is learnt as a background: the limit reached only {highest}"
    );
    phase.set(1);
    bench.run(20_000, 4, |_| {});
    assert!(
        pool.size() >= 60,
        "no drops, calls waiting: the limit grows to max, at {}",
        pool.size()
    );
    phase.set(2);
    bench.run(5_000, 4, |_| {});
    let (mut sum, mut count, mut late) = (0usize, 0usize, 0usize);
    bench.run(10_000, 4, |size| {
        sum += size;
        count += 1;
        late = late.max(size);
    });
    let mean = sum as f64 / count as f64;
    assert!(
        mean <= 50.0,
        "the faded background lets the capacity's drops cut: at most {late}, mean {mean:.1}"
    );
    bench.finish();
}

/// `AdaptiveSettings::validate` and the builder: "the builder rejects values
/// outside it [each number's range], NaN included, with a
/// `BuildError::OutOfRange`" (adaptive.rs:176-178), `TOLERANCE` "a finite
/// number of at least 1" (adaptive.rs:207-208). Every field's edges, both
/// ways, on both surfaces, and the two agree.
#[test]
fn every_adaptive_parameter_is_checked_at_its_edges_by_validate_and_the_builder() {
    let d = AdaptiveSettings::DEFAULT;
    type Set = fn(&mut AdaptiveSettings, f64);
    let fields: [(&str, Set, &[f64], &[f64]); 5] = [
        (
            "window_samples",
            |s, v| s.window_samples = v as u32,
            &[1.0, 10_000.0],
            &[0.0, 10_001.0],
        ),
        (
            "tolerance",
            |s, v| s.tolerance = v,
            &[1.0, 1e300, f64::MAX],
            &[0.999, 0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
        ),
        (
            "smoothing",
            |s, v| s.smoothing = v,
            &[0.0, 1.0, 0.5],
            &[-0.0001, 1.0001, f64::NAN, f64::INFINITY],
        ),
        (
            "backoff",
            |s, v| s.backoff = v,
            &[0.0, 1.0],
            &[-0.5, 1.5, f64::NAN, f64::NEG_INFINITY],
        ),
        (
            "drop_tolerance",
            |s, v| s.drop_tolerance = v,
            &[0.0, 1.0],
            &[-0.01, 2.0, f64::NAN, f64::INFINITY],
        ),
    ];
    let build = |s: AdaptiveSettings| {
        Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(4)
            .scale_policy(ScalePolicy::Adaptive(s))
            .build()
            .map(|_| ())
    };
    for (name, set, good, bad) in fields {
        for &v in good {
            let mut s = d;
            set(&mut s, v);
            assert_eq!(s.validate(), Ok(()), "{name} = {v}");
            assert_eq!(build(s), Ok(()), "{name} = {v}");
        }
        for &v in bad {
            let mut s = d;
            set(&mut s, v);
            let e = s.validate().expect_err(&format!("{name} = {v} accepted"));
            assert!(
                matches!(e, pool_runtime::BuildError::OutOfRange { .. }),
                "{name} = {v}: {e:?}"
            );
            assert!(e.to_string().contains(name), "{name} = {v}: {e}");
            assert_eq!(build(s), Err(e), "{name} = {v}: the builder agrees");
        }
    }
    // Durations may be anything, `Duration::MAX` ("never") included.
    for t in [Duration::ZERO, Duration::MAX] {
        let s = AdaptiveSettings {
            window_time: t,
            baseline_interval: t,
            ..d
        };
        assert_eq!(s.validate(), Ok(()), "{t:?}");
        assert_eq!(build(s), Ok(()), "{t:?}");
    }
}

#[cfg(feature = "config")]
mod configured {
    use super::common::{config_turn, vars};
    use pool_runtime::{config, register_group, Group, GroupSpec, Kind, ScalePolicy};

    static TUNED: Group = Group::new(
        GroupSpec::new("r23rt::tuned")
            .kind(Kind::Autoscale)
            .min(1)
            .max(8)
            .scale_policy(ScalePolicy::Adaptive(
                pool_runtime::AdaptiveSettings::DEFAULT,
            )),
    );
    register_group!(TUNED);

    static PLAIN: Group = Group::new(GroupSpec::new("r23rt::plain").kind(Kind::Fixed).size(2));
    register_group!(PLAIN);

    /// README "Configuration": "Every value, wherever it is written (a
    /// `[defaults]` table's too, whether or not it reaches a group), is
    /// checked against the builder's own bounds", and "Loads are all or
    /// nothing". Each adaptive parameter out of its range, in `[defaults]`
    /// (with and without an adaptive group for it to reach), in an adaptive
    /// group's table and in its variable: the load fails, and the group's
    /// settings are those of before.
    #[test]
    fn every_out_of_range_adaptive_parameter_fails_the_load_on_every_surface() {
        let _turn = config_turn();
        let before = (TUNED.settings(), PLAIN.settings());
        let bad: [(&str, &[&str]); 5] = [
            ("window_samples", &["0", "10001", "-1", "1.5"]),
            ("tolerance", &["0.5", "-1.0", "nan", "inf"]),
            ("smoothing", &["-0.1", "1.5", "nan"]),
            ("backoff", &["-0.1", "1.01", "nan"]),
            ("drop_tolerance", &["-0.01", "1.5", "nan", "inf"]),
        ];
        for (key, values) in bad {
            for value in values {
                let texts = [
                    format!("[defaults]\nadaptive_{key} = {value}\n"),
                    format!("[defaults]\npolicy = \"adaptive\"\nadaptive_{key} = {value}\n"),
                    format!("[groups.\"r23rt::tuned\"]\nadaptive_{key} = {value}\n"),
                    format!(
                        "[groups.\"r23rt::tuned\"]\npolicy = \"adaptive\"\nadaptive_{key} = {value}\n"
                    ),
                ];
                for text in texts {
                    let loaded = config::load_str("r23.toml", &text);
                    let now = (TUNED.settings(), PLAIN.settings());
                    config::clear();
                    assert!(loaded.is_err(), "accepted:\n{text}");
                    assert_eq!(now, before, "a failed load changed settings:\n{text}");
                }
                let var = format!("POOLED_R23RT__TUNED_ADAPTIVE_{}", key.to_ascii_uppercase());
                let loaded = config::load_env_from(vars(&[(var.as_str(), value)]));
                let now = (TUNED.settings(), PLAIN.settings());
                config::clear();
                assert!(loaded.is_err(), "accepted: {var}={value}");
                assert_eq!(now, before, "a failed load changed settings: {var}={value}");
            }
        }
        // The edges themselves are accepted, and in force.
        let loaded = config::load_str(
            "r23.toml",
            "[groups.\"r23rt::tuned\"]\nadaptive_window_samples = 10000\n\
             adaptive_tolerance = 1.0\nadaptive_smoothing = 1.0\nadaptive_backoff = 0.0\n\
             adaptive_drop_tolerance = 1.0\n",
        );
        let now = TUNED.settings().policy;
        config::clear();
        loaded.expect("the edges are in range");
        match now {
            ScalePolicy::Adaptive(s) => {
                assert_eq!(
                    (
                        s.window_samples,
                        s.tolerance,
                        s.smoothing,
                        s.backoff,
                        s.drop_tolerance
                    ),
                    (10_000, 1.0, 1.0, 0.0, 1.0)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// README "Configuration": the `adaptive_*` keys "in a group's table or
    /// variable, on a group whose policy is not adaptive they are an error,
    /// not ignored". A fixed group's table or variable with a parameter
    /// (valid in range) fails the load.
    #[test]
    fn an_adaptive_parameter_on_a_fixed_group_is_an_error_on_both_surfaces() {
        let _turn = config_turn();
        let before = PLAIN.settings();
        for key in [
            "window_samples",
            "window_time",
            "tolerance",
            "smoothing",
            "baseline_interval",
            "backoff",
            "drop_tolerance",
        ] {
            let value = match key {
                "window_samples" => "20",
                "window_time" | "baseline_interval" => "\"2s\"",
                "tolerance" => "1.5",
                _ => "0.5",
            };
            let text = format!("[groups.\"r23rt::plain\"]\nadaptive_{key} = {value}\n");
            let loaded = config::load_str("r23.toml", &text);
            config::clear();
            assert!(loaded.is_err(), "accepted:\n{text}");
            let var = format!("POOLED_R23RT__PLAIN_ADAPTIVE_{}", key.to_ascii_uppercase());
            let env_value = value.trim_matches('"');
            let loaded = config::load_env_from(vars(&[(var.as_str(), env_value)]));
            config::clear();
            assert!(loaded.is_err(), "accepted: {var}={env_value}");
            assert_eq!(PLAIN.settings(), before);
        }
    }
}

/// adaptive.rs:45-58 "Some servers refuse a share of calls at any
/// concurrency: a token bucket with no burst to speak of ... their mean rate
/// is the server's *background*: from then on drops cut only past
/// `drop_tolerance` above it and three standard errors of its sampling
/// noise ..., and drops within it do not stop the limit from growing";
/// adaptive.rs:66-67 growth near the level that last drew drops is "a tenth
/// of a slot per window" at the slowest, that level relaxing "upward by a
/// twentieth of itself per `baseline_interval`". A token bucket that refuses
/// every third call, exactly, at any concurrency, on a server of fixed
/// latency with calls always waiting: over some 2 500 round trips (more
/// than 1 000 windows) the limit must grow well past where the cuts left it
/// toward `max` (64).
#[test]
fn a_token_bucket_refusing_every_third_call_does_not_hold_the_limit() {
    let clock = ManualClock::new();
    let pool = adaptive_pool(&clock, 1, 64, 16);
    let mut bench = Bench::new(&pool, clock, Box::new(|_, n| n % 3 == 0), (1, 64));
    let mut highest = 0;
    bench.run(80_000, 4, |size| highest = highest.max(size));
    assert!(
        highest >= 48,
        "drops within the background do not stop the limit from growing: it reached only {highest}"
    );
    bench.finish();
}

/// adaptive.rs:52-54 "when two cuts in a row left the drop rate where it was
/// (the next window's rate at least 0.8× the rate that made the cut, the
/// limit cut by a tenth or more, or already at `min`), their mean rate is
/// the server's *background*". A pool whose `min` is where it starts (8): a
/// third of the calls refused at any concurrency cannot be cut below `min`,
/// so cuts at `min` teach the background, and the limit grows past `min`.
#[test]
fn cuts_held_at_min_teach_the_background_and_the_limit_grows_past_min() {
    let clock = ManualClock::new();
    let pool = adaptive_pool(&clock, 8, 64, 8);
    let mut third = a_third_at_random(0x9e37_79b9_7f4a_7c15);
    let mut bench = Bench::new(&pool, clock, Box::new(move |_, _| third()), (8, 64));
    let mut highest = 0;
    bench.run(20_000, 4, |size| highest = highest.max(size));
    assert!(
        highest >= 16,
        "a background learnt at min lets the limit grow: it reached only {highest}"
    );
    bench.finish();
}
