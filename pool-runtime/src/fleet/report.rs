//! Events worth a line in the application's logs or traces: a lease lost, a
//! limit that disagrees with the fleet's, Redis unreachable and back, fleet
//! settings refused at a group's first use.
//! Counted in [`FleetStats`](super::FleetStats) in every build; reported
//! through `tracing` (feature `tracing`; the target of the pools' own events,
//! [`TARGET`](crate::observe::TARGET), with the group's name as `pool`) and
//! `log` (feature `config`, target `pooled::fleet`) when present.

#[cfg(feature = "tracing")]
use crate::observe::TARGET;

/// This process's fleet limit differs from the one in Redis.
pub(crate) fn mismatch(group: &str, ours: usize, in_force: u64) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: TARGET,
        pool = group,
        ours,
        in_force,
        "fleet limit mismatch"
    );
    #[cfg(feature = "config")]
    log::warn!(
        target: "pooled::fleet",
        "group {group}: fleet limit {ours} differs from the one in Redis ({in_force}), which governs"
    );
    let _ = (group, ours, in_force);
}

/// A renewal found lease `token` expired or gone.
pub(crate) fn lost(group: &str, token: u64) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: TARGET, pool = group, token, "fleet lease lost");
    #[cfg(feature = "config")]
    log::warn!(target: "pooled::fleet", "group {group}: fleet lease {token} lost");
    let _ = (group, token);
}

/// The first failure of a Redis command after an answer.
pub(crate) fn unreachable(group: &str, error: &redis::RedisError) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: TARGET,
        pool = group,
        error = %error,
        "fleet redis unreachable"
    );
    #[cfg(feature = "config")]
    log::warn!(target: "pooled::fleet", "group {group}: Redis unreachable ({error})");
    let _ = (group, error);
}

/// The first answer from Redis after a failure.
pub(crate) fn reachable(group: &str) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: TARGET, pool = group, "fleet redis reachable again");
    #[cfg(feature = "config")]
    log::info!(target: "pooled::fleet", "group {group}: Redis reachable again");
    let _ = group;
}

/// A group's fleet settings failed their check at its first use: the group
/// runs under its local limit alone (see `Group::fleet`).
pub(crate) fn refused(group: &str, error: &crate::BuildError) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: TARGET,
        pool = group,
        error = %error,
        "fleet settings refused"
    );
    // No caller can receive it: through `log`, or on stderr without a
    // logger (as configuration errors found at a first use are).
    crate::config::warn(
        "pooled::fleet",
        &format!(
            "group {group}: fleet settings refused ({error}); the group runs under its local limit alone, without a fleet limit"
        ),
    );
}
