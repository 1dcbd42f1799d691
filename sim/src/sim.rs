//! One simulated run: a workload against the server, through one contender,
//! on a current-thread tokio runtime whose clock is paused (time jumps to the
//! next timer whenever every task waits, so 150 s of traffic take a fraction
//! of a second and every run is reproducible from its seed).

use crate::peers::{Controller, Outcome, Peer};
use crate::rng::Rng;
use crate::server::{Model, Response, Server};
use pooled::TokioClock;
use pooled::{AdaptiveSettings, Kind, Pool, ScalePolicy, Verdict};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A stretch of a workload with one server capacity and one arrival rate.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    /// When it starts (seconds).
    pub start: f64,
    /// The server's workers.
    pub capacity: usize,
    /// Poisson arrivals per second (0: none).
    pub rate: f64,
}

/// What the clients do and how the server's capacity moves.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Short name (`W1`).
    pub name: &'static str,
    /// What it is, for the table.
    pub title: String,
    /// Calls submitted all at once at time zero.
    pub batch: usize,
    /// The phases, in order; the first starts at 0.
    pub phases: Vec<Phase>,
    /// When the run stops (seconds); unfinished calls are dropped.
    pub duration: f64,
    /// The server's shape.
    pub model: Model,
    /// Closed-loop clients running through the whole run (besides the
    /// batch and the arrivals).
    pub closed: Option<Closed>,
}

/// Closed-loop clients: each makes a call, waits for its answer, thinks,
/// and calls again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Closed {
    /// How many clients.
    pub clients: usize,
    /// Mean think time between a client's calls (exponential), s.
    pub think: f64,
}

impl Workload {
    /// Where phase `i` ends.
    pub fn phase_end(&self, i: usize) -> f64 {
        self.phases.get(i + 1).map_or(self.duration, |p| p.start)
    }

    /// The three workloads of issue 6, with phases `phase` seconds long, on
    /// a server shaped by `model`.
    pub fn all(phase: f64, batch: usize, model: Model) -> Vec<Workload> {
        let cap = |c: usize| c as f64 / model.mean;
        vec![
            Workload {
                name: "W1",
                title: format!("{batch} calls at once; capacity 8 → 2 → 8"),
                batch,
                phases: vec![
                    Phase {
                        start: 0.0,
                        capacity: 8,
                        rate: 0.0,
                    },
                    Phase {
                        start: phase,
                        capacity: 2,
                        rate: 0.0,
                    },
                    Phase {
                        start: 2.0 * phase,
                        capacity: 8,
                        rate: 0.0,
                    },
                ],
                duration: 3.0 * phase,
                model,
                closed: None,
            },
            Workload {
                name: "W2",
                title: "Poisson 0.5× → 1.5× → 0.5× capacity (8)".into(),
                batch: 0,
                phases: [0.5, 1.5, 0.5]
                    .iter()
                    .enumerate()
                    .map(|(i, x)| Phase {
                        start: i as f64 * phase,
                        capacity: 8,
                        rate: x * cap(8),
                    })
                    .collect(),
                duration: 3.0 * phase,
                model,
                closed: None,
            },
            Workload {
                name: "W3",
                title: "Poisson 0.3× capacity (8)".into(),
                batch: 0,
                phases: vec![Phase {
                    start: 0.0,
                    capacity: 8,
                    rate: 0.3 * cap(8),
                }],
                duration: 3.0 * phase,
                model,
                closed: None,
            },
        ]
    }
}

/// How calls reach the server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    /// No pool: every call goes straight to the server.
    Unbounded,
    /// A fixed pool of this size.
    Fixed(usize),
    /// An autoscaled pool on the seed's queue-depth rule (min 4, max 64).
    QueueDepth,
    /// An autoscaled pool on the latency-adaptive rule.
    Adaptive(Adaptive),
    /// A fixed pool resized by a reference controller after every call.
    Peer(Peer),
    /// A fixed pool resized to the server's true capacity at every change
    /// (as a concurrency: `Model::capacity_limit`).
    Oracle,
    /// The same at this multiple of the true capacity (rounded, at least 1).
    Capacity(f64),
}

impl Policy {
    /// The multiple of the true capacity a capacity-following pool holds.
    pub fn capacity_scale(self) -> Option<f64> {
        match self {
            Policy::Oracle => Some(1.0),
            Policy::Capacity(f) => Some(f),
            _ => None,
        }
    }
}

/// `scale` × the true capacity of `model` with `workers` workers.
fn scaled(model: &Model, workers: usize, scale: f64) -> usize {
    let limit = model.capacity_limit(workers);
    if scale == 1.0 {
        limit
    } else {
        ((limit as f64 * scale).round() as usize).max(1)
    }
}

/// How the adaptive pool is set up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adaptive {
    /// The policy's parameters.
    pub settings: AdaptiveSettings,
    /// The pool's `min` (where it starts without a `size`).
    pub min: usize,
    /// The pool's `max`.
    pub max: usize,
    /// The starting limit (`None`: the builder's, `min`, within
    /// `[min, max]`).
    pub initial: Option<usize>,
}

/// A named way of calling the server.
#[derive(Clone, Debug)]
pub struct Contender {
    /// For the table and the plots.
    pub name: String,
    /// How it admits calls.
    pub policy: Policy,
}

/// One finished call.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// When it finished (seconds since the start).
    pub done: f64,
    /// How it went.
    pub response: Response,
    /// From sending the request (admission) to its answer (seconds).
    pub latency: f64,
    /// From the call's arrival (before waiting in the pool) to its answer.
    pub e2e: f64,
}

/// The state every [`SAMPLE_EVERY`].
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Seconds since the start.
    pub t: f64,
    /// The pool's limit (`None`: no pool).
    pub limit: Option<usize>,
    /// Requests in the server (queued or served, abandoned ones included).
    pub in_flight: usize,
}

/// How often the limit and the server's load are sampled.
pub const SAMPLE_EVERY: f64 = 0.1;

/// What one run produced.
#[derive(Debug, Default)]
pub struct Run {
    /// Calls finished before the end, in finishing order.
    pub calls: Vec<Call>,
    /// Samples, every [`SAMPLE_EVERY`].
    pub trace: Vec<Sample>,
    /// Calls that arrived.
    pub arrived: usize,
    /// Calls the pool turned away (none are expected: no bound, no timeout).
    pub rejected: usize,
}

/// The pool of `policy`; `oracle` is its size at the start if it follows
/// the capacity, and
/// `peer` the peer's starting limit, if any.
fn build_pool(policy: Policy, oracle: usize, peer: Option<usize>) -> Option<Pool> {
    let clock = Arc::new(TokioClock::new());
    let builder = Pool::builder().clock(clock);
    let builder = match policy {
        Policy::Unbounded => return None,
        Policy::Fixed(n) => builder.size(n),
        Policy::Oracle | Policy::Capacity(_) => builder.size(oracle),
        Policy::Peer(_) => builder.size(peer.expect("a peer's limit")),
        Policy::QueueDepth => builder.kind(Kind::Autoscale).min(4).max(64),
        Policy::Adaptive(a) => {
            let builder = builder
                .kind(Kind::Autoscale)
                .min(a.min)
                .max(a.max)
                .scale_policy(ScalePolicy::Adaptive(a.settings));
            match a.initial {
                Some(size) => builder.size(size),
                None => builder,
            }
        }
    };
    Some(builder.build().expect("valid pool settings"))
}

fn judge(response: &Response) -> Verdict {
    match response {
        Response::Ok => Verdict::Success,
        Response::Overloaded | Response::TimedOut => Verdict::Overload,
    }
}

/// A peer's controller, shared by the calls.
type Shared = Rc<RefCell<Box<dyn Controller>>>;

/// What every call of a run shares.
#[derive(Clone)]
struct Ctx {
    pool: Option<Pool>,
    controller: Option<Shared>,
    server: Server,
    calls: Rc<RefCell<Vec<Call>>>,
    rejected: Rc<Cell<usize>>,
    arrived: Rc<Cell<usize>>,
    start: Instant,
}

async fn one_call(ctx: Ctx) {
    let Ctx {
        pool,
        controller,
        server,
        calls,
        rejected,
        arrived: _,
        start,
    } = ctx;
    let arrived = Instant::now();
    let (response, admitted) = match &pool {
        None => (server.request().await, arrived),
        Some(pool) => {
            let admitted = Cell::new(arrived);
            let work = async {
                let now = Instant::now();
                admitted.set(now);
                let secs = |t: Instant| (t - start).as_secs_f64();
                let Some(controller) = &controller else {
                    return server.request().await;
                };
                let started = controller.borrow_mut().start(secs(now));
                let response = server.request().await;
                let outcome = match response {
                    Response::Ok => Outcome::Ok,
                    Response::Overloaded | Response::TimedOut => Outcome::Dropped,
                };
                // The limit moves before the slot is released, as the
                // libraries update theirs before releasing the permit.
                let limit = {
                    let mut c = controller.borrow_mut();
                    c.end(started, secs(Instant::now()), outcome);
                    c.limit()
                };
                pool.resize(limit);
                response
            };
            let out = pool.submit_judged(0, work, judge).await;
            match out {
                Ok(response) => (response, admitted.get()),
                Err(_) => {
                    rejected.set(rejected.get() + 1);
                    return;
                }
            }
        }
    };
    let now = Instant::now();
    calls.borrow_mut().push(Call {
        done: (now - start).as_secs_f64(),
        response,
        latency: (now - admitted).as_secs_f64(),
        e2e: (now - arrived).as_secs_f64(),
    });
}

fn at(start: Instant, secs: f64) -> Instant {
    start + Duration::from_secs_f64(secs)
}

/// Runs `workload` through `contender` with `seed`.
pub fn run(workload: &Workload, contender: &Contender, seed: u64) -> Run {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, simulate(workload, contender.policy, seed))
}

async fn simulate(workload: &Workload, policy: Policy, seed: u64) -> Run {
    let start = Instant::now();
    let first = workload.phases[0].capacity;
    let model = workload.model;
    let server = Server::new(first, model, Rng::new(seed, 2));
    let controller: Option<Shared> = match policy {
        Policy::Peer(peer) => Some(Rc::new(RefCell::new(peer.controller(Rng::new(seed, 4))))),
        _ => None,
    };
    let pool = build_pool(
        policy,
        policy
            .capacity_scale()
            .map_or(0, |f| scaled(&model, first, f)),
        controller.as_ref().map(|c| c.borrow().limit()),
    );
    let calls = Rc::new(RefCell::new(Vec::new()));
    let rejected = Rc::new(Cell::new(0));
    let arrived = Rc::new(Cell::new(0));
    let trace = Rc::new(RefCell::new(Vec::new()));

    // The server's capacity (and the oracle's size) follow the phases.
    {
        let (server, pool, phases) = (server.clone(), pool.clone(), workload.phases.clone());
        tokio::task::spawn_local(async move {
            for phase in phases.iter().skip(1) {
                tokio::time::sleep_until(at(start, phase.start)).await;
                server.set_capacity(phase.capacity);
                if let (Some(f), Some(pool)) = (policy.capacity_scale(), &pool) {
                    pool.resize(scaled(&model, phase.capacity, f));
                }
            }
        });
    }
    // The sampler.
    {
        let (server, pool, trace) = (server.clone(), pool.clone(), trace.clone());
        let end = workload.duration;
        tokio::task::spawn_local(async move {
            let mut k = 0u32;
            loop {
                let t = f64::from(k) * SAMPLE_EVERY;
                if t >= end {
                    break;
                }
                tokio::time::sleep_until(at(start, t)).await;
                trace.borrow_mut().push(Sample {
                    t,
                    limit: pool.as_ref().map(Pool::size),
                    in_flight: server.in_flight(),
                });
                k += 1;
            }
        });
    }
    // The batch, the closed-loop clients, then Poisson arrivals phase by phase.
    let ctx = Ctx {
        pool: pool.clone(),
        controller,
        server: server.clone(),
        calls: calls.clone(),
        rejected: rejected.clone(),
        arrived: arrived.clone(),
        start,
    };
    let spawn_call = {
        let ctx = ctx.clone();
        move || {
            ctx.arrived.set(ctx.arrived.get() + 1);
            tokio::task::spawn_local(one_call(ctx.clone()));
        }
    };
    for _ in 0..workload.batch {
        spawn_call();
    }
    if let Some(closed) = workload.closed {
        for client in 0..closed.clients {
            let ctx = ctx.clone();
            let mut rng = Rng::new(seed, 1000 + client as u64);
            tokio::task::spawn_local(async move {
                loop {
                    ctx.arrived.set(ctx.arrived.get() + 1);
                    one_call(ctx.clone()).await;
                    let think = rng.exponential(1.0 / closed.think);
                    tokio::time::sleep(Duration::from_secs_f64(think)).await;
                }
            });
        }
    }
    {
        let workload = workload.clone();
        tokio::task::spawn_local(async move {
            let mut rng = Rng::new(seed, 1);
            for (i, phase) in workload.phases.iter().enumerate() {
                if phase.rate <= 0.0 {
                    continue;
                }
                let end = workload.phase_end(i);
                let mut t = phase.start;
                loop {
                    t += rng.exponential(phase.rate);
                    if t >= end {
                        break;
                    }
                    tokio::time::sleep_until(at(start, t)).await;
                    spawn_call();
                }
            }
        });
    }
    tokio::time::sleep_until(at(start, workload.duration)).await;
    let calls = std::mem::take(&mut *calls.borrow_mut());
    let trace = std::mem::take(&mut *trace.borrow_mut());
    Run {
        calls,
        trace,
        arrived: arrived.get(),
        rejected: rejected.get(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Vec<Workload> {
        Workload::all(4.0, 1_000, Model::default())
    }

    fn key(run: &Run) -> Vec<(u64, u64)> {
        run.calls
            .iter()
            .map(|c| ((c.done * 1e6) as u64, (c.latency * 1e6) as u64))
            .collect()
    }

    #[test]
    fn a_run_is_reproducible_from_its_seed() {
        let contender = Contender {
            name: String::new(),
            policy: Policy::Adaptive(crate::default_adaptive()),
        };
        for w in &small() {
            let (a, b) = (run(w, &contender, 3), run(w, &contender, 3));
            assert!(!a.calls.is_empty());
            assert_eq!(key(&a), key(&b), "{}", w.name);
            assert_ne!(key(&a), key(&run(w, &contender, 4)), "{}", w.name);
        }
    }

    #[test]
    fn the_adaptive_contender_starts_where_the_runtime_says() {
        let contender = Contender {
            name: String::new(),
            policy: Policy::Adaptive(crate::default_adaptive()),
        };
        let r = run(&small()[2], &contender, 0);
        assert_eq!(
            r.trace[0].limit,
            Some(crate::default_adaptive().min),
            "no `size`: `min`"
        );
    }

    #[test]
    fn every_call_is_accounted_for() {
        let contender = Contender {
            name: String::new(),
            policy: Policy::Oracle,
        };
        let w = &small()[2];
        let r = run(w, &contender, 0);
        assert_eq!(r.rejected, 0);
        // Light load: all but the last few calls in flight have finished.
        assert!(
            r.calls.len() + 10 >= r.arrived,
            "{} of {}",
            r.calls.len(),
            r.arrived
        );
    }
}
