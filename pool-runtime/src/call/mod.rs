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
