//! A group's fleet settings: the limit shared by every process, where it is
//! kept, how long a lease lasts, and what a call does when Redis cannot be
//! reached. Plain values, `const`-built like the rest of
//! [`GroupSettings`](crate::GroupSettings), so they exist (and are refused
//! with [`BuildError::NeedsFeature`]) in a build without the `redis` feature.

use crate::pool::error::BuildError;
use crate::pool::order::UnknownChoice;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What a call of a fleet group does when Redis cannot be reached (it
/// refuses the connection, or does not answer within the lease's
/// `fleet_lease / 4`, at most 1 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum OnUnreachable {
    /// Keep the local slot and retry (backing off, with jitter, up to 1 s
    /// between attempts) until Redis answers; an admission timeout or the
    /// caller dropping the call still ends the wait. The default: the fleet
    /// limit is never exceeded because Redis is away.
    #[default]
    Wait,
    /// Turn the call away with
    /// [`Rejected::FleetUnavailable`](crate::Rejected::FleetUnavailable)
    /// at once. A call that never rejects (`submit_wait`, `run_wait`) waits
    /// instead.
    Reject,
    /// Run under the local limit alone: the fleet limit is not enforced while
    /// Redis is away (each such call is counted in
    #[cfg_attr(
        feature = "redis",
        doc = " [`FleetStats::local_fallbacks`](crate::fleet::FleetStats))."
    )]
    #[cfg_attr(not(feature = "redis"), doc = " `FleetStats::local_fallbacks`).")]
    Local,
}

impl OnUnreachable {
    /// The names `FromStr` accepts.
    pub const CHOICES: &'static [&'static str] = &["wait", "reject", "local"];

    /// The policy's name, as configuration writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            OnUnreachable::Wait => "wait",
            OnUnreachable::Reject => "reject",
            OnUnreachable::Local => "local",
        }
    }
}

impl fmt::Display for OnUnreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OnUnreachable {
    type Err = UnknownChoice;

    fn from_str(text: &str) -> Result<Self, UnknownChoice> {
        match text {
            "wait" => Ok(OnUnreachable::Wait),
            "reject" => Ok(OnUnreachable::Reject),
            "local" => Ok(OnUnreachable::Local),
            _ => Err(UnknownChoice {
                given: text.to_owned(),
                expected: OnUnreachable::CHOICES,
            }),
        }
    }
}

/// A group's fleet limit: how many of its calls may run at once across every
/// process that uses the same Redis and the same group name. Unset
/// (`limit: None`, the default) the group has its local limit only.
///
/// Set through [`GroupSettings`](crate::GroupSettings)' `fleet_*` setters,
/// the `fleet_*` keys of a configuration file, `POOLED_<GROUP>_FLEET_*`
/// variables, or `#[pooled(fleet_limit = N, fleet_url = "...")]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetSettings {
    /// The fleet-wide limit on running calls; `None`: no fleet limit.
    pub limit: Option<usize>,
    /// The Redis URL (`redis://host:port/db`); required with a limit.
    pub url: Option<&'static str>,
    /// How long a lease lasts without renewal (default 10 s); a holder
    /// renews it every third of that.
    pub lease: Duration,
    /// What a call does while Redis cannot be reached (default: wait).
    pub unreachable: OnUnreachable,
}

impl FleetSettings {
    /// No fleet limit; a lease of 10 s and the `wait` policy once one is set.
    pub const DEFAULT: FleetSettings = FleetSettings {
        limit: None,
        url: None,
        lease: FleetSettings::DEFAULT_LEASE,
        unreachable: OnUnreachable::Wait,
    };

    /// The default lease length: 10 s.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

    /// The shortest lease accepted: 100 ms (renewals every third of it, and a
    /// Redis round trip, must fit in it comfortably).
    pub const MIN_LEASE: Duration = Duration::from_millis(100);

    /// The longest lease accepted: one day (a holder that dies keeps its
    /// lease this long).
    pub const MAX_LEASE: Duration = Duration::from_secs(24 * 60 * 60);

    /// The checks the settings must pass (part of
    /// [`GroupSettings::check`](crate::GroupSettings::check)).
    pub(crate) fn check(&self) -> Result<(), BuildError> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        Self::check_limit(limit)?;
        Self::check_lease(self.lease)?;
        Self::check_url(self.url)
    }

    /// The limit's own rule: a build with the `redis` feature, and
    /// `1..=MAX_SLOTS` (part of [`check`](Self::check); configuration checks
    /// a limit a stronger layer replaced by it too).
    pub(crate) fn check_limit(limit: usize) -> Result<(), BuildError> {
        if !cfg!(feature = "redis") {
            return Err(BuildError::NeedsFeature {
                setting: "fleet_limit",
                feature: "redis",
            });
        }
        if !(1..=crate::MAX_SLOTS).contains(&limit) {
            return Err(BuildError::OutOfRange {
                setting: "fleet_limit",
                value: limit.to_string(),
                expected: format!("1 to {} (MAX_SLOTS)", crate::MAX_SLOTS),
            });
        }
        Ok(())
    }

    /// The lease's own range: 100 ms to 24 h (part of [`check`](Self::check);
    /// configuration checks a lease written where no limit is by it too).
    pub(crate) fn check_lease(lease: Duration) -> Result<(), BuildError> {
        if !(Self::MIN_LEASE..=Self::MAX_LEASE).contains(&lease) {
            return Err(BuildError::OutOfRange {
                setting: "fleet_lease",
                value: format!("{lease:?}"),
                expected: "100ms to 24h".to_owned(),
            });
        }
        Ok(())
    }

    /// The URL's own rule: a `redis://` or `unix://` URL, which a limit
    /// needs (part of [`check`](Self::check); configuration checks a URL
    /// written where no limit is by it too).
    pub(crate) fn check_url(url: Option<&str>) -> Result<(), BuildError> {
        match url {
            None | Some("") => Err(BuildError::OutOfRange {
                setting: "fleet_url",
                // Said as configuration reports an unset value.
                value: if url.is_none() { "none" } else { "\"\"" }.to_owned(),
                expected:
                    "a Redis URL such as \"redis://127.0.0.1:6379\" (a fleet limit needs one)"
                        .to_owned(),
            }),
            Some(url) if !(url.starts_with("redis://") || url.starts_with("unix://")) => {
                Err(BuildError::OutOfRange {
                    setting: "fleet_url",
                    value: url.to_owned(),
                    expected: "a `redis://` or `unix://` URL".to_owned(),
                })
            }
            Some(_) => Ok(()),
        }
    }

    /// These settings with what a pool cannot take dropped: a fleet limit
    /// that fails its check (or that this build cannot enforce) is removed,
    /// so a hand-written declaration still starts, under its local limit.
    /// Not silently: the group's first use warns (`Group::fleet`, and the
    /// module docs' "Settings that fail their check").
    pub(crate) fn clamped(&self) -> FleetSettings {
        match self.check() {
            Ok(()) => *self,
            Err(_) => FleetSettings {
                limit: None,
                ..*self
            },
        }
    }
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings::DEFAULT
    }
}

/// A URL read from configuration, kept for the life of the process (a
/// `GroupSettings` is `Copy` and `const`, so it holds `&'static str`). Each
/// distinct URL is stored once, however often configuration is reloaded.
pub(crate) fn intern(url: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static URLS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut urls = URLS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let urls = urls.get_or_insert_with(HashSet::new);
    if let Some(known) = urls.get(url) {
        return known;
    }
    let leaked: &'static str = Box::leak(url.to_owned().into_boxed_str());
    urls.insert(leaked);
    leaked
}
