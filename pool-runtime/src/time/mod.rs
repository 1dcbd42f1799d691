//! Time: the clocks a pool reads ([`clock`]) and admission deadlines
//! ([`timer`]).

pub mod clock;
pub(crate) mod timer;
