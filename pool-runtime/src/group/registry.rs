//! Every group in the binary, known at link time (so configuration can name
//! groups that were never called, and `groups()` can list them).

use crate::group::settings::GroupSettings;
use crate::group::Group;
use crate::pool::stats::Stats;

/// The groups registered at link time by `#[pooled]` and [`register_group!`](crate::register_group!).
/// Public only through the hidden `__private` module, for the macro.
#[linkme::distributed_slice]
pub static GROUPS: [&'static Group];

/// Registers a hand-declared [`Group`] `static` so that configuration and
/// [`registered_groups`] know it (`#[pooled]` registers its groups itself).
///
/// # Examples
///
/// ```
/// use pool_runtime::{register_group, Group, GroupSpec};
///
/// static CACHE: Group = Group::new(GroupSpec::new("cache"));
/// register_group!(CACHE);
///
/// assert!(pool_runtime::registered_groups().any(|g| g.name() == "cache"));
/// ```
#[macro_export]
macro_rules! register_group {
    ($group:path) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::__private::GROUPS)]
            #[linkme(crate = $crate::__private::linkme)]
            static REGISTERED: &'static $crate::Group = &$group;
        };
    };
}

/// Every registered group, in link order.
///
/// Under Miri, which cannot read link-time sections, none: a group still
/// works there, configured by its own spec and the environment alone.
pub fn registered_groups() -> impl Iterator<Item = &'static Group> {
    let groups: &'static [&'static Group] = if cfg!(miri) { &[] } else { &GROUPS };
    groups.iter().copied()
}

/// A snapshot of one group: its name, the settings in force, and its stats
/// if it has started.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GroupInfo {
    /// The group's stable name.
    pub name: &'static str,
    /// The settings in force (or that it will start with).
    pub settings: GroupSettings,
    /// The pool's stats; `None` until the group has started (its first use:
    /// a call, or a read of its pool such as `size()` or `stats()`).
    pub stats: Option<Stats>,
}

/// Every group in the binary (registered at link time), sorted by name, with
/// its current settings and stats. Listing does not start any group.
///
/// # Examples
///
/// ```
/// use pool_runtime::{register_group, Group, GroupSpec};
///
/// static SEARCH: Group = Group::new(GroupSpec::new("docs::search"));
/// register_group!(SEARCH);
///
/// let info = pool_runtime::groups().into_iter().find(|g| g.name == "docs::search").unwrap();
/// assert_eq!((info.settings.starting_size(), info.stats), (3, None));
/// ```
pub fn groups() -> Vec<GroupInfo> {
    let mut list: Vec<GroupInfo> = registered_groups()
        .map(|group| GroupInfo {
            name: group.name(),
            settings: group.settings(),
            stats: group.started_pool().map(crate::Pool::stats),
        })
        .collect();
    list.sort_by_key(|info| info.name);
    list
}
