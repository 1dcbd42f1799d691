//! Reference concurrency controllers (issue 11): faithful reimplementations
//! of other libraries' adaptive limits, each driving the size of a fixed
//! `pooled` pool (`Pool::resize`), so that admission — the queue, its order,
//! when a slot frees — is the same for every contender and only the limit
//! differs.
//!
//! A controller sees what its library sees: a call starting (after
//! admission) and ending, with its round-trip time and whether the server
//! pushed back ("overloaded" answers and client timeouts, which every one of
//! these libraries counts as back-pressure or a drop).

pub mod arc;
pub mod gradient2;
pub mod vegas;

use crate::rng::Rng;

/// Which reference controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Vector's Adaptive Request Concurrency.
    Arc,
    /// Netflix concurrency-limits' `Gradient2Limit`.
    Gradient2,
    /// Netflix concurrency-limits' `VegasLimit`.
    Vegas,
}

impl Peer {
    /// All of them, in table order.
    pub const ALL: [Peer; 3] = [Peer::Arc, Peer::Gradient2, Peer::Vegas];

    /// The name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Arc => "Vector ARC",
            Peer::Gradient2 => "Gradient2",
            Peer::Vegas => "Vegas",
        }
    }

    /// A controller with the library's defaults; `rng` for those that draw
    /// random numbers (Vegas' probe jitter).
    pub fn controller(self, rng: Rng) -> Box<dyn Controller> {
        match self {
            Peer::Arc => Box::new(arc::Arc::new(arc::Settings::default())),
            Peer::Gradient2 => Box::new(gradient2::Gradient2::new(gradient2::Settings::default())),
            Peer::Vegas => Box::new(vegas::Vegas::new(vegas::Settings::default(), rng)),
        }
    }
}

/// How a call ended, for a controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered normally: its round-trip time is a latency sample.
    Ok,
    /// Back-pressure: answered "overloaded" (429/503) or timed out.
    Dropped,
}

/// What a controller noted when a call started, handed back when it ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Started {
    /// When (seconds, the simulation's clock).
    pub at: f64,
    /// Calls in flight through the controller, this one included.
    pub in_flight: usize,
}

/// A concurrency controller: a limit moved by what calls report.
impl Started {
    /// A call starts at `now`: counts it in `in_flight` (the controller's own
    /// count of its calls in flight, which the libraries keep the same way).
    pub fn count(in_flight: &mut usize, now: f64) -> Started {
        *in_flight += 1;
        Started {
            at: now,
            in_flight: *in_flight,
        }
    }
}

pub trait Controller {
    /// The limit now.
    fn limit(&self) -> usize;
    /// A call was admitted at `now`.
    fn start(&mut self, now: f64) -> Started;
    /// The call `started` ended at `now` with `outcome`.
    fn end(&mut self, started: Started, now: f64, outcome: Outcome);
}
