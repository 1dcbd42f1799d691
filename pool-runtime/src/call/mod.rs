//! The call forms, all on one admission pipeline ([`acquire`]): async calls
//! ([`submit`]), sync callers that park ([`park`]), blocking closures on an
//! executor ([`blocking`]), calls spawned onto tokio ([`spawn`]), and slots held
//! by a guard ([`permit`]).

pub(crate) mod acquire;
pub(crate) mod blocking;
pub(crate) mod held;
pub(crate) mod park;
pub(crate) mod permit;
#[cfg(feature = "tokio")]
pub(crate) mod spawn;
pub(crate) mod submit;

/// Which form a call takes: the call spans of feature `tracing` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
pub(crate) enum Form {
    /// `submit` and its variants: async work polled in the caller's task.
    Submit,
    /// `Pool::spawn`: async work on a task of its own.
    #[cfg(feature = "tokio")]
    Spawn,
    /// `run`: sync work on the calling thread.
    Run,
    /// `submit_blocking`: a closure on the blocking executor.
    Blocking,
    /// `acquire`: a slot held by a permit.
    Permit,
}
