//! Events worth a line in the application's logs or traces: a lease lost, a
//! limit that disagrees with the fleet's. Counted in
//! [`FleetStats`](super::FleetStats) in every build; reported through
//! `tracing` (feature `tracing`) and `log` (feature `config`) when present.

/// This process's fleet limit differs from the one in Redis.
pub(crate) fn mismatch(group: &str, ours: usize, in_force: u64) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "pooled::fleet",
        group,
        ours,
        in_force,
        "fleet limit differs from the one in Redis, which governs"
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
    tracing::warn!(target: "pooled::fleet", group, token, "fleet lease lost");
    #[cfg(feature = "config")]
    log::warn!(target: "pooled::fleet", "group {group}: fleet lease {token} lost");
    let _ = (group, token);
}
