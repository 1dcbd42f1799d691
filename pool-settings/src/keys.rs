//! The names of a group's settings: one list for the attribute's keys and
//! the configuration's (a file's keys are these, the environment's the same
//! in upper case after `POOLED_<GROUP>_`).

/// Every setting of a group by its key, in the order the docs list them;
/// the adaptive policy's parameters follow as `adaptive_<name>` (see
/// [`adaptive::PARAMETERS`](crate::adaptive::PARAMETERS)).
pub const SETTINGS: &[&str] = &[
    "kind",
    "order",
    "size",
    "min",
    "max",
    "max_waiting",
    "admission_timeout",
    "sync_barging",
    "autoscale_interval",
    "autoscale_window",
    "policy",
    "executor",
    "fleet_limit",
    "fleet_url",
    "fleet_lease",
    "fleet_unreachable",
];
