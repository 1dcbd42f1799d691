//! Time: the clocks a pool reads ([`clock`]) and admission deadlines
//! ([`timer`]).

pub(crate) mod clock;
pub(crate) mod timer;
