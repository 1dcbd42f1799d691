//! The simulated server: `c` workers and a FIFO queue.
//!
//! * Service time is lognormal with mean [`MEAN_SERVICE`] and log-space
//!   standard deviation [`SIGMA`], drawn when a worker picks a request up.
//! * **The knee.** Past `c` requests in the server (its knee), every excess
//!   request slows the others down (contention for the same cores, memory,
//!   locks): a request starting service while `excess = in_server - c` more
//!   requests are in the server takes `base * (1 + KNEE_SLOPE * excess / c)`.
//! * **Overload.** A request that finds all workers busy and [`QUEUE_LIMIT`]
//!   requests already queued is answered "overloaded" at once.
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

/// Mean service time of an unloaded server.
pub const MEAN_SERVICE: f64 = 0.050;
/// Log-space standard deviation of the service time (p99 ≈ 2.8 × the mean).
pub const SIGMA: f64 = 0.5;
/// Relative slow-down per excess request per worker past the knee.
pub const KNEE_SLOPE: f64 = 0.25;

/// The server's shape: the constants above, changeable for robustness runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    /// Mean service time (s).
    pub mean: f64,
    /// Log-space standard deviation of the service time.
    pub sigma: f64,
    /// Slow-down per excess request per worker past the knee.
    pub knee_slope: f64,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            mean: MEAN_SERVICE,
            sigma: SIGMA,
            knee_slope: KNEE_SLOPE,
        }
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
    /// Refused at once: the server's queue was full.
    Overloaded,
    /// The client gave up waiting (the server may still serve it later).
    TimedOut,
}

struct State {
    capacity: usize,
    busy: usize,
    queue: VecDeque<oneshot::Sender<()>>,
    rng: Rng,
    model: Model,
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
}

/// A handle on the simulated server (single-threaded: `Rc`).
#[derive(Clone)]
pub struct Server(Rc<RefCell<State>>);

impl Server {
    /// A server with `capacity` workers; service times drawn from `rng`.
    pub fn new(capacity: usize, model: Model, rng: Rng) -> Server {
        Server(Rc::new(RefCell::new(State {
            capacity,
            busy: 0,
            queue: VecDeque::new(),
            rng,
            model,
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

    /// Sends one request and waits for the answer, at most [`CLIENT_TIMEOUT`].
    pub async fn request(&self) -> Response {
        let done = {
            let mut s = self.0.borrow_mut();
            let wait = if s.busy < s.capacity && s.queue.is_empty() {
                s.busy += 1;
                None
            } else if s.queue.len() >= QUEUE_LIMIT {
                return Response::Overloaded;
            } else {
                let (tx, rx) = oneshot::channel();
                s.queue.push_back(tx);
                Some(rx)
            };
            let (tx, rx) = oneshot::channel();
            tokio::task::spawn_local(serve(self.clone(), wait, tx));
            rx
        };
        match tokio::time::timeout(CLIENT_TIMEOUT, done).await {
            Ok(Ok(())) => Response::Ok,
            _ => Response::TimedOut,
        }
    }
}

/// The server's side of one request: independent of the client, which may
/// have given up.
async fn serve(server: Server, wait: Option<oneshot::Receiver<()>>, done: oneshot::Sender<()>) {
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
        base * (1.0 + m.knee_slope * excess / s.capacity.max(1) as f64)
    };
    tokio::time::sleep(Duration::from_secs_f64(service)).await;
    {
        let mut s = server.0.borrow_mut();
        s.busy -= 1;
        s.dispatch();
    }
    let _ = done.send(());
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
}
