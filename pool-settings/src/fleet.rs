//! The fleet keys that configure a fleet limit, and the rule that refuses
//! them where no limit is: the attribute at compile time, a configuration
//! file's group table and the environment at load time.

/// The keys that configure a fleet limit (`fleet_limit`): the Redis that
/// keeps it, its lease, and what a call does when Redis cannot be reached.
/// Without a limit they configure nothing, and are refused.
pub const NEED_LIMIT: &[&str] = &["fleet_url", "fleet_lease", "fleet_unreachable"];

/// The keys of [`NEED_LIMIT`] that were given (`at(key)` says where, or
/// `None` if it was not) for a group without a fleet limit (`limited` is
/// false), with where each was given; none if the group has a limit.
pub fn without_limit<W>(
    limited: bool,
    at: impl Fn(&'static str) -> Option<W>,
) -> impl Iterator<Item = (&'static str, W)> {
    NEED_LIMIT
        .iter()
        .filter(move |_| !limited)
        .filter_map(move |&key| at(key).map(|at| (key, at)))
}

/// Why `key` (one of [`NEED_LIMIT`]) is refused without a fleet limit, and
/// the fix.
pub fn needs_limit(key: &str) -> String {
    format!("`{key}` applies to a fleet limit: add `fleet_limit = N`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_keys_are_refused_only_without_a_limit() {
        let given = |key: &'static str| (key != "fleet_lease").then_some(key.len());
        let refused: Vec<_> = without_limit(false, given).collect();
        assert_eq!(refused, [("fleet_url", 9), ("fleet_unreachable", 17)]);
        assert_eq!(without_limit(true, given).count(), 0);
        assert_eq!(
            needs_limit("fleet_url"),
            "`fleet_url` applies to a fleet limit: add `fleet_limit = N`"
        );
    }

    #[test]
    fn every_key_that_needs_a_limit_is_a_setting() {
        for key in NEED_LIMIT {
            assert!(crate::keys::SETTINGS.contains(key), "{key}");
        }
    }
}
