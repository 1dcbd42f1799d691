//! How an autoscaled pool moves its limit: the seed's queue-depth rule
//! ([`queue_depth`]) and the latency-adaptive policy ([`adaptive`]).

pub(crate) mod adaptive;
pub(crate) mod queue_depth;
