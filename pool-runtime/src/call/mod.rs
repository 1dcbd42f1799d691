//! The call forms, all on one admission pipeline ([`acquire`]): async calls
//! ([`submit`]), sync callers that park ([`park`]), blocking closures on an
//! executor ([`blocking`]), and calls spawned onto tokio ([`spawn`]).

pub(crate) mod acquire;
pub(crate) mod blocking;
pub(crate) mod held;
pub(crate) mod park;
#[cfg(feature = "tokio")]
pub(crate) mod spawn;
pub(crate) mod submit;
