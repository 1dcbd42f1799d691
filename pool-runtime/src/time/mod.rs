//! Time: the clocks a pool reads ([`clock`]) and admission deadlines
//! ([`timer`]).

pub(crate) mod clock;
pub(crate) mod timer;

/// `d` in nanoseconds, saturating at `u64::MAX` (some 584 years): the one
/// conversion the clocks and the core's atomics use.
pub(crate) fn saturating_nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
