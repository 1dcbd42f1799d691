//! The simulated server: `c` workers and a FIFO queue.
//!
//! * Service time is lognormal with mean [`MEAN_SERVICE`] and log-space
//!   standard deviation [`SIGMA`], drawn when a worker picks a request up.
//! * **The knee.** Past `c` requests in the server (its knee), every excess
//!   request slows the others down (contention for the same cores, memory,
//!   locks): a request starting service while `excess = in_server - c` more
//!   requests are in the server takes `base * (1 + KNEE_SLOPE * excess / c)`
//!   ([`Knee::Linear`], the default) or `base * exp(slope * excess / c)`
//!   ([`Knee::Exponential`]).
//! * **Overload.** A request that finds all workers busy and [`QUEUE_LIMIT`]
//!   requests already queued is answered "overloaded" at once. Other
//!   [`Admission`] rules (issue 11's server family) refuse earlier: slowly,
//!   never, at once, or past a token bucket's rate.
//! * **The link.** A [`Link`] may add a network delay to each call, half on
//!   the way in and half on the way out (the client's timeout covers both).
//! * **Abandoned work.** The client gives up after [`CLIENT_TIMEOUT`]; the
//!   server does not know and serves the request anyway (it stays queued and
//!   then occupies a worker), which is what makes an overloaded server spiral.
//! * The capacity `c` can change while running: fewer workers let running
//!   requests finish and start nothing until `busy < c`; more workers start
//!   queued requests at once.

use crate::rng::Rng;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Mean service time of an unloaded server.
pub const MEAN_SERVICE: f64 = 0.050;
/// Log-space standard deviation of the service time (p99 ≈ 2.8 × the mean).
pub const SIGMA: f64 = 0.5;
/// Relative slow-down per excess request per worker past the knee.
pub const KNEE_SLOPE: f64 = 0.25;

/// How service slows down past the knee (`excess` requests more than workers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Knee {
    /// `base * (1 + slope * excess / c)`.
    Linear,
    /// `base * exp(slope * excess / c)`: thrashing.
    Exponential,
}

/// What the server does with a request it will not queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admission {
    /// Queue up to [`QUEUE_LIMIT`], then answer "overloaded" at once.
    Queue,
    /// With `limit` requests or more in the server, answer "overloaded" after
    /// `delay` seconds (a front end that holds the connection before it
    /// gives up, e.g. waiting for a backend connection).
    Defer {
        /// Requests in the server (served or queued) past which it refuses.
        limit: usize,
        /// Seconds before the refusal reaches the client.
        delay: f64,
    },
    /// With `limit` requests or more in the server, never answer (the
    /// client's timeout fires): a load shedder that drops the connection.
    Drop {
        /// Requests in the server past which it drops.
        limit: usize,
    },
    /// With `limit` requests or more in the server, answer "overloaded" (503)
    /// at once.
    FailFast {
        /// Requests in the server past which it refuses.
        limit: usize,
    },
    /// A token bucket of `rate` requests per second holding up to `burst`
    /// tokens; a request finding it empty is answered "overloaded" (429) at
    /// once. Admitted requests queue as with [`Admission::Queue`].
    RateLimit {
        /// Tokens per second.
        rate: f64,
        /// The bucket's size (and its content at the start).
        burst: f64,
    },
}

/// The network between the client and the server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    /// No delay.
    Direct,
    /// A delay drawn per call, uniform in `[0, max]` seconds.
    Jitter {
        /// The largest delay (s).
        max: f64,
    },
    /// The same delay on every call (s).
    Fixed(f64),
}

impl Link {
    /// The mean added round-trip delay (s).
    pub fn mean(self) -> f64 {
        match self {
            Link::Direct => 0.0,
            Link::Jitter { max } => max / 2.0,
            Link::Fixed(d) => d,
        }
    }
}

/// The server's shape: the constants above, changeable for robustness runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    /// Mean service time (s).
    pub mean: f64,
    /// Log-space standard deviation of the service time.
    pub sigma: f64,
    /// Slow-down per excess request per worker past the knee.
    pub knee_slope: f64,
    /// How the slow-down grows with the excess.
    pub knee: Knee,
    /// What happens to requests the server will not take.
    pub admission: Admission,
    /// The network in between.
    pub link: Link,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            mean: MEAN_SERVICE,
            sigma: SIGMA,
            knee_slope: KNEE_SLOPE,
            knee: Knee::Linear,
            admission: Admission::Queue,
            link: Link::Direct,
        }
    }
}

impl Model {
    /// Calls per second the server completes with `workers` workers.
    pub fn throughput(&self, workers: usize) -> f64 {
        let served = workers as f64 / self.mean;
        match self.admission {
            Admission::RateLimit { rate, .. } => served.min(rate),
            _ => served,
        }
    }

    /// The true capacity as a client-side concurrency (Little's law: the
    /// throughput times the unloaded round trip, link included); with the
    /// default model, `workers`.
    pub fn capacity_limit(&self, workers: usize) -> usize {
        let limit = self.throughput(workers) * (self.mean + self.link.mean());
        (limit.round() as usize).max(1)
    }
}

/// Requests the server queues before answering "overloaded".
pub const QUEUE_LIMIT: usize = 64;
/// The client gives up on a request after this long.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

/// How a request ended, as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Served within the client timeout.
    Ok,
    /// Refused: the server's queue was full (or its admission rule said no).
    Overloaded,
    /// The client gave up waiting (the server may still serve it later).
    TimedOut,
}

struct State {
    capacity: usize,
    busy: usize,
    queue: VecDeque<oneshot::Sender<()>>,
    rng: Rng,
    /// Link delays draw from their own stream, so that adding a link leaves
    /// the service times alone.
    link_rng: Rng,
    model: Model,
    /// The token bucket ([`Admission::RateLimit`]): tokens, last refill.
    tokens: f64,
    refilled: Instant,
    /// Answers the server will never send ([`Admission::Drop`]).
    dropped: Vec<oneshot::Sender<Response>>,
}

impl State {
    /// Hands free workers to queued requests.
    fn dispatch(&mut self) {
        while self.busy < self.capacity {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            self.busy += 1;
            // A send fails only if the serving task is gone (runtime shutdown).
            if next.send(()).is_err() {
                self.busy -= 1;
            }
        }
    }

    /// Takes a token from the bucket, if there is one.
    fn take_token(&mut self, rate: f64, burst: f64) -> bool {
        let now = Instant::now();
        let dt = (now - self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + rate * dt).min(burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the server does with a request that reached it.
enum Admit {
    /// Served at once, or queued (wait for the receiver).
    Serve(Option<oneshot::Receiver<()>>),
    /// Refused: "overloaded" after this many seconds.
    Refuse(f64),
    /// Dropped: never answered.
    Drop,
}

/// A handle on the simulated server (single-threaded: `Rc`).
#[derive(Clone)]
pub struct Server(Rc<RefCell<State>>);

impl Server {
    /// A server with `capacity` workers; service times drawn from `rng`.
    pub fn new(capacity: usize, model: Model, rng: Rng) -> Server {
        let link_rng = Rng::new(rng.clone().next_u64(), 3);
        let burst = match model.admission {
            Admission::RateLimit { burst, .. } => burst,
            _ => 0.0,
        };
        Server(Rc::new(RefCell::new(State {
            capacity,
            busy: 0,
            queue: VecDeque::new(),
            rng,
            link_rng,
            model,
            tokens: burst,
            refilled: Instant::now(),
            dropped: Vec::new(),
        })))
    }

    /// Changes the number of workers.
    pub fn set_capacity(&self, capacity: usize) {
        let mut s = self.0.borrow_mut();
        s.capacity = capacity;
        s.dispatch();
    }

    /// Requests in the server (being served or queued, abandoned ones included).
    pub fn in_flight(&self) -> usize {
        let s = self.0.borrow();
        s.busy + s.queue.len()
    }

    /// Sends one request and waits for the answer, at most [`CLIENT_TIMEOUT`]
    /// from now.
    pub async fn request(&self) -> Response {
        let (link_in, link_out) = {
            let mut s = self.0.borrow_mut();
            let delay = match s.model.link {
                Link::Direct => 0.0,
                Link::Jitter { max } => max * s.link_rng.uniform(),
                Link::Fixed(d) => d,
            };
            (delay / 2.0, delay / 2.0)
        };
        let (tx, rx) = oneshot::channel();
        if link_in > 0.0 {
            // The request travels on whether or not the client still waits.
            let server = self.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_secs_f64(link_in)).await;
                server.arrive(tx, link_out);
            });
        } else {
            self.arrive(tx, link_out);
        }
        match tokio::time::timeout(CLIENT_TIMEOUT, rx).await {
            Ok(Ok(response)) => response,
            _ => Response::TimedOut,
        }
    }

    /// A request reaches the server; `answer` takes the response, which
    /// travels `link_out` seconds back.
    fn arrive(&self, answer: oneshot::Sender<Response>, link_out: f64) {
        let admit = {
            let mut s = self.0.borrow_mut();
            Self::admit(&mut s)
        };
        match admit {
            Admit::Serve(wait) => {
                tokio::task::spawn_local(serve(self.clone(), wait, answer, link_out));
            }
            Admit::Refuse(delay) => {
                let delay = delay + link_out;
                if delay > 0.0 {
                    tokio::task::spawn_local(async move {
                        tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                        let _ = answer.send(Response::Overloaded);
                    });
                } else {
                    let _ = answer.send(Response::Overloaded);
                }
            }
            Admit::Drop => self.0.borrow_mut().dropped.push(answer),
        }
    }

    fn admit(s: &mut State) -> Admit {
        let in_server = s.busy + s.queue.len();
        let admission = s.model.admission;
        match admission {
            Admission::Queue => {}
            Admission::Defer { limit, delay } if in_server >= limit => return Admit::Refuse(delay),
            Admission::Drop { limit } if in_server >= limit => return Admit::Drop,
            Admission::FailFast { limit } if in_server >= limit => return Admit::Refuse(0.0),
            Admission::RateLimit { rate, burst } if !s.take_token(rate, burst) => {
                return Admit::Refuse(0.0)
            }
            Admission::Defer { .. }
            | Admission::Drop { .. }
            | Admission::FailFast { .. }
            | Admission::RateLimit { .. } => {}
        }
        if s.busy < s.capacity && s.queue.is_empty() {
            s.busy += 1;
            Admit::Serve(None)
        } else if s.queue.len() >= QUEUE_LIMIT {
            Admit::Refuse(0.0)
        } else {
            let (tx, rx) = oneshot::channel();
            s.queue.push_back(tx);
            Admit::Serve(Some(rx))
        }
    }
}

/// The server's side of one request: independent of the client, which may
/// have given up.
async fn serve(
    server: Server,
    wait: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<Response>,
    link_out: f64,
) {
    if let Some(wait) = wait {
        if wait.await.is_err() {
            return;
        }
    }
    let service = {
        let mut s = server.0.borrow_mut();
        let in_server = s.busy + s.queue.len();
        let excess = in_server.saturating_sub(s.capacity) as f64;
        let m = s.model;
        let base = s.rng.lognormal(m.mean, m.sigma);
        let x = m.knee_slope * excess / s.capacity.max(1) as f64;
        base * match m.knee {
            Knee::Linear => 1.0 + x,
            Knee::Exponential => x.exp(),
        }
    };
    tokio::time::sleep(Duration::from_secs_f64(service)).await;
    {
        let mut s = server.0.borrow_mut();
        s.busy -= 1;
        s.dispatch();
    }
    if link_out > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(link_out)).await;
    }
    let _ = done.send(Response::Ok);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        (rt, tokio::task::LocalSet::new())
    }

    #[test]
    fn answers_overloaded_past_a_full_queue_and_serves_abandoned_work() {
        let (rt, local) = runtime();
        local.block_on(&rt, async {
            let server = Server::new(1, Model::default(), Rng::new(1, 2));
            let mut calls = Vec::new();
            for _ in 0..(1 + QUEUE_LIMIT + 1) {
                let server = server.clone();
                calls.push(tokio::task::spawn_local(
                    async move { server.request().await },
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert_eq!(server.in_flight(), 1 + QUEUE_LIMIT, "one served, 64 queued");
            let mut answers = Vec::new();
            for call in calls {
                answers.push(call.await.unwrap());
            }
            let count = |r| answers.iter().filter(|a| **a == r).count();
            assert_eq!(count(Response::Overloaded), 1);
            assert!(
                count(Response::TimedOut) > 40,
                "one worker cannot serve 65 in 1 s"
            );
            // The clients are gone; the server still works through their requests.
            assert!(server.in_flight() > 0);
            tokio::time::sleep(Duration::from_secs(120)).await;
            assert_eq!(server.in_flight(), 0);
        });
    }

    #[test]
    fn past_the_knee_service_slows_down() {
        let (rt, local) = runtime();
        let elapsed = |queued: usize| {
            local.block_on(&rt, async {
                let server = Server::new(
                    4,
                    Model {
                        sigma: 0.0,
                        ..Model::default()
                    },
                    Rng::new(1, 2),
                );
                let start = tokio::time::Instant::now();
                let calls: Vec<_> = (0..4 + queued)
                    .map(|_| {
                        let server = server.clone();
                        tokio::task::spawn_local(async move { server.request().await })
                    })
                    .collect();
                for call in calls {
                    call.await.unwrap();
                }
                start.elapsed().as_secs_f64()
            })
        };
        // 4 requests on 4 workers: one service time. 8: the first four are
        // slowed by the 4 waiting (1 + 0.25 * 4 / 4), the next four are not.
        assert!((elapsed(0) - 0.050).abs() < 0.002);
        assert!((elapsed(4) - (0.050 * 1.25 + 0.050)).abs() < 0.003);
    }

    /// `n` requests sent at once to a server of `capacity` workers shaped by
    /// `model` (no noise in service times): each answer and when it came.
    fn burst(model: Model, capacity: usize, n: usize) -> Vec<(Response, f64)> {
        let (rt, local) = runtime();
        local.block_on(&rt, async {
            let server = Server::new(
                capacity,
                Model {
                    sigma: 0.0,
                    ..model
                },
                Rng::new(1, 2),
            );
            let start = tokio::time::Instant::now();
            let calls: Vec<_> = (0..n)
                .map(|_| {
                    let server = server.clone();
                    tokio::task::spawn_local(async move {
                        let r = server.request().await;
                        (r, start.elapsed().as_secs_f64())
                    })
                })
                .collect();
            let mut out = Vec::new();
            for call in calls {
                out.push(call.await.unwrap());
            }
            out
        })
    }

    fn with(admission: Admission) -> Model {
        Model {
            admission,
            ..Model::default()
        }
    }

    #[test]
    fn fail_fast_answers_overloaded_at_once_above_its_limit() {
        let out = burst(with(Admission::FailFast { limit: 6 }), 4, 10);
        let refused: Vec<_> = out
            .iter()
            .filter(|(r, _)| *r == Response::Overloaded)
            .collect();
        assert_eq!(refused.len(), 4);
        assert!(refused.iter().all(|(_, t)| *t == 0.0));
        assert_eq!(out.iter().filter(|(r, _)| *r == Response::Ok).count(), 6);
    }

    #[test]
    fn defer_answers_overloaded_after_its_delay() {
        let out = burst(
            with(Admission::Defer {
                limit: 6,
                delay: 0.25,
            }),
            4,
            10,
        );
        let refused: Vec<_> = out
            .iter()
            .filter(|(r, _)| *r == Response::Overloaded)
            .collect();
        assert_eq!(refused.len(), 4);
        assert!(refused.iter().all(|(_, t)| (*t - 0.25).abs() < 0.002));
    }

    #[test]
    fn drop_never_answers_so_the_client_times_out() {
        let out = burst(with(Admission::Drop { limit: 6 }), 4, 10);
        let lost: Vec<_> = out
            .iter()
            .filter(|(r, _)| *r == Response::TimedOut)
            .collect();
        assert_eq!(lost.len(), 4);
        assert!(lost.iter().all(|(_, t)| (*t - 1.0).abs() < 0.002));
        assert_eq!(out.iter().filter(|(r, _)| *r == Response::Ok).count(), 6);
    }

    #[test]
    fn a_rate_limit_refuses_past_its_tokens_and_refills() {
        let model = with(Admission::RateLimit {
            rate: 10.0,
            burst: 5.0,
        });
        let out = burst(model, 100, 20);
        let ok = out.iter().filter(|(r, _)| *r == Response::Ok).count();
        assert_eq!(ok, 5, "the bucket holds 5");
        assert!(out
            .iter()
            .filter(|(r, _)| *r == Response::Overloaded)
            .all(|(_, t)| *t == 0.0));
        // 10 per second, one at a time: none refused.
        let (rt, local) = runtime();
        local.block_on(&rt, async {
            let server = Server::new(100, model, Rng::new(1, 2));
            for _ in 0..50 {
                assert_eq!(server.request().await, Response::Ok);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    #[test]
    fn past_an_exponential_knee_service_slows_down_exponentially() {
        let model = Model {
            knee: Knee::Exponential,
            knee_slope: 1.0,
            ..Model::default()
        };
        let last = |n| {
            burst(model, 4, n)
                .iter()
                .map(|(_, t)| *t)
                .fold(0.0, f64::max)
        };
        assert!((last(4) - 0.050).abs() < 0.002);
        // The first four start with 4 waiting: e^(1 * 4 / 4).
        let expected = 0.050 * std::f64::consts::E + 0.050;
        assert!((last(8) - expected).abs() < 0.003, "{}", last(8));
    }

    #[test]
    fn a_jittery_link_adds_up_to_its_maximum_and_a_slow_link_times_out() {
        let model = Model {
            link: Link::Jitter { max: 0.1 },
            ..Model::default()
        };
        let (rt, local) = runtime();
        let latencies: Vec<f64> = local.block_on(&rt, async {
            let server = Server::new(
                4,
                Model {
                    sigma: 0.0,
                    ..model
                },
                Rng::new(1, 2),
            );
            let mut out = Vec::new();
            for _ in 0..400 {
                let start = tokio::time::Instant::now();
                assert_eq!(server.request().await, Response::Ok);
                out.push(start.elapsed().as_secs_f64());
            }
            out
        });
        assert!(latencies.iter().all(|l| (0.049..=0.152).contains(l)));
        let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;
        assert!((mean - 0.1).abs() < 0.005, "mean {mean}");
        // 0.9 s of link: one worker serves the first within the timeout,
        // the second finishes at 0.9 + 2 × 50 ms.
        let slow = Model {
            link: Link::Fixed(0.9),
            ..Model::default()
        };
        let out = burst(slow, 1, 2);
        assert_eq!(out[0].0, Response::Ok);
        assert_eq!(out[1].0, Response::TimedOut);
    }

    #[test]
    fn the_capacity_limit_is_littles_law() {
        assert_eq!(Model::default().capacity_limit(8), 8);
        let jitter = Model {
            link: Link::Jitter { max: 0.1 },
            ..Model::default()
        };
        assert_eq!(jitter.capacity_limit(8), 16);
        let bucket = with(Admission::RateLimit {
            rate: 160.0,
            burst: 10.0,
        });
        assert_eq!(bucket.capacity_limit(32), 8);
        assert_eq!(bucket.throughput(32), 160.0);
    }
}
