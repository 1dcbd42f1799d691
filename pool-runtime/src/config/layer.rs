//! One layer of configuration (file defaults, a file group section, the
//! environment): optional values, each remembering where it came from.

use crate::fleet::OnUnreachable;
use crate::group::settings::GroupSettings;
use crate::pool::error::BuildError;
use crate::pool::order::{ExecutorKind, Kind, Order};
use crate::scale::adaptive::AdaptiveSettings;
use crate::scale::queue_depth::AutoscaleTiming;
use crate::scale::ScalePolicy;
use std::fmt;
use std::time::Duration;

/// Where a configured value came from, for error messages and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A position in a configuration file (1-based line and column).
    File {
        /// The file as it was named to `load`.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
    },
    /// An environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => write!(f, "{path}:{line}:{column}"),
            Origin::Env { var } => write!(f, "environment variable {var}"),
        }
    }
}

/// A configured value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Val<T> {
    pub(crate) value: T,
    pub(crate) origin: Origin,
}

/// One layer's optional settings for a group (or for every group).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Overrides {
    pub(crate) kind: Option<Val<Kind>>,
    pub(crate) order: Option<Val<Order>>,
    pub(crate) size: Option<Val<usize>>,
    pub(crate) min: Option<Val<usize>>,
    pub(crate) max: Option<Val<usize>>,
    /// `Some(None)`: removed (`"none"`).
    pub(crate) max_waiting: Option<Val<Option<usize>>>,
    /// `Some(None)`: removed (`"none"`).
    pub(crate) admission_timeout: Option<Val<Option<Duration>>>,
    pub(crate) sync_barging: Option<Val<Duration>>,
    pub(crate) autoscale_interval: Option<Val<Duration>>,
    pub(crate) autoscale_window: Option<Val<usize>>,
    pub(crate) policy: Option<Val<PolicyName>>,
    pub(crate) executor: Option<Val<ExecutorKind>>,
    pub(crate) fleet_limit: Option<Val<usize>>,
    pub(crate) fleet_url: Option<Val<&'static str>>,
    pub(crate) fleet_lease: Option<Val<Duration>>,
    pub(crate) fleet_unreachable: Option<Val<OnUnreachable>>,
    pub(crate) adaptive: AdaptiveOverrides,
}

/// The adaptive policy's parameters a layer sets (see [`AdaptiveSettings`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AdaptiveOverrides {
    pub(crate) window_samples: Option<Val<u32>>,
    pub(crate) window_time: Option<Val<Duration>>,
    pub(crate) tolerance: Option<Val<f64>>,
    pub(crate) smoothing: Option<Val<f64>>,
    pub(crate) baseline_interval: Option<Val<Duration>>,
    pub(crate) backoff: Option<Val<f64>>,
    pub(crate) drop_tolerance: Option<Val<f64>>,
}

impl AdaptiveOverrides {
    /// Lays the parameters this layer sets over `laid`; with `fill`, only
    /// those no layer in force set yet (a `[defaults]` table's).
    fn apply(&self, laid: &mut AdaptiveLaid, fill: bool) {
        fn set<T: Clone>(
            slot: &mut T,
            origin: &mut Option<Origin>,
            val: &Option<Val<T>>,
            fill: bool,
        ) {
            if let Some(v) = val {
                if !fill || origin.is_none() {
                    *slot = v.value.clone();
                    *origin = Some(v.origin.clone());
                }
            }
        }
        let p = &mut laid.params;
        // In the order of `pool_settings::adaptive::PARAMETERS`.
        let [samples, time, tolerance, smoothing, baseline, backoff, drop] = &mut laid.origins;
        set(&mut p.window_samples, samples, &self.window_samples, fill);
        set(&mut p.window_time, time, &self.window_time, fill);
        set(&mut p.tolerance, tolerance, &self.tolerance, fill);
        set(&mut p.smoothing, smoothing, &self.smoothing, fill);
        set(
            &mut p.baseline_interval,
            baseline,
            &self.baseline_interval,
            fill,
        );
        set(&mut p.backoff, backoff, &self.backoff, fill);
        set(&mut p.drop_tolerance, drop, &self.drop_tolerance, fill);
    }

    /// Where each parameter this layer sets is written.
    pub(crate) fn origins(&self) -> impl Iterator<Item = &Origin> {
        [
            self.window_samples.as_ref().map(|v| &v.origin),
            self.window_time.as_ref().map(|v| &v.origin),
            self.tolerance.as_ref().map(|v| &v.origin),
            self.smoothing.as_ref().map(|v| &v.origin),
            self.baseline_interval.as_ref().map(|v| &v.origin),
            self.backoff.as_ref().map(|v| &v.origin),
            self.drop_tolerance.as_ref().map(|v| &v.origin),
        ]
        .into_iter()
        .flatten()
    }

    /// Checks each parameter this layer sets on its own, against the ranges
    /// the builder checks ([`AdaptiveSettings::validate`], over the defaults
    /// with that one parameter changed): a value out of range is refused
    /// where it is written, whichever groups it would reach.
    pub(crate) fn check_each(&self) -> Result<(), (Origin, BuildError)> {
        let mut one = AdaptiveOverrides::default();
        let check = |one: &AdaptiveOverrides| {
            let mut laid = AdaptiveLaid::default();
            one.apply(&mut laid, false);
            match (laid.params.validate(), one.origins().next()) {
                (Err(err), Some(origin)) => Err((origin.clone(), err)),
                _ => Ok(()),
            }
        };
        macro_rules! each {
            ($($field:ident),*) => {$(
                if self.$field.is_some() {
                    one.$field = self.$field.clone();
                    check(&one)?;
                    one.$field = None;
                }
            )*};
        }
        each!(
            window_samples,
            window_time,
            tolerance,
            smoothing,
            baseline_interval,
            backoff,
            drop_tolerance
        );
        Ok(())
    }
}

/// The adaptive policy's parameters as the layers laid so far set them
/// (over the declaration's, if it declares the policy), whatever policy the
/// group follows, and where each was set (`None`: the declaration or the
/// default), in the order of `pool_settings::adaptive::PARAMETERS`. Each
/// parameter is a setting of its own, one layer over another; the policy
/// the group ends up with decides whether they are used.
#[derive(Clone, Debug)]
pub(crate) struct AdaptiveLaid {
    pub(crate) params: AdaptiveSettings,
    pub(crate) origins: [Option<Origin>; pool_settings::adaptive::PARAMETERS.len()],
}

impl Default for AdaptiveLaid {
    fn default() -> Self {
        AdaptiveLaid {
            params: AdaptiveSettings::DEFAULT,
            origins: Default::default(),
        }
    }
}

impl AdaptiveLaid {
    /// Where the parameter named `name` (a field of [`AdaptiveSettings`])
    /// was set.
    fn origin(&self, name: &str) -> &Option<Origin> {
        pool_settings::adaptive::PARAMETERS
            .iter()
            .position(|(n, _)| *n == name)
            .map_or(&None, |i| &self.origins[i])
    }

    /// Where the first parameter a layer set is written (the file before
    /// the environment, in the order of the file): for the error on a group
    /// that does not follow the adaptive policy.
    pub(crate) fn first(&self) -> Option<&Origin> {
        self.origins.iter().flatten().min_by_key(|o| match o {
            Origin::File { line, column, .. } => (0, *line, *column),
            Origin::Env { .. } => (1, 0, 0),
        })
    }
}

/// The scale policies a configuration can name (with default parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyName {
    QueueDepth,
    Adaptive,
}

impl PolicyName {
    pub(crate) const CHOICES: &'static [&'static str] = &["queue_depth", "adaptive"];

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "queue_depth" => Some(PolicyName::QueueDepth),
            "adaptive" => Some(PolicyName::Adaptive),
            _ => None,
        }
    }
}

/// Where each field of a group's effective settings was last set, when a
/// layer set it (for pointing errors at the right place).
#[derive(Clone, Debug, Default)]
pub(crate) struct Provenance {
    pub(crate) kind: Option<Origin>,
    pub(crate) size: Option<Origin>,
    pub(crate) max_waiting: Option<Origin>,
    pub(crate) min: Option<Origin>,
    pub(crate) max: Option<Origin>,
    pub(crate) autoscale_interval: Option<Origin>,
    pub(crate) autoscale_window: Option<Origin>,
    pub(crate) policy: Option<Origin>,
    pub(crate) executor: Option<Origin>,
    pub(crate) fleet_limit: Option<Origin>,
    pub(crate) fleet_url: Option<Origin>,
    pub(crate) fleet_lease: Option<Origin>,
    /// The adaptive policy's parameters the layers set, and where each was
    /// set (see [`AdaptiveLaid`]).
    pub(crate) adaptive: AdaptiveLaid,
    /// The settings last set for the kind the group does not have now (see
    /// [`KindSettings`]).
    pub(crate) other_kind: KindSettings,
}

/// The settings that belong to one kind, with where each was set: a fixed
/// group's `size`; an autoscaled group's `size` (where it starts), `min`,
/// `max`, `policy` and the adaptive policy's parameters.
///
/// Layers are laid over the declaration one by one. A layer that changes a
/// group's kind puts the settings of the kind it leaves aside and brings
/// back those last set for the kind it gives (by the declaration or a
/// weaker layer; none if nothing set them): a stronger layer that changes
/// the kind back finds them again. So a declared fixed `size = 4` that a
/// file's table makes autoscaled and the environment fixed again is a fixed
/// group of 4, not of the default 3, as if the two kind changes had not
/// been made; and the autoscaled settings the table set in between do not
/// leak into the fixed group.
#[derive(Clone, Debug, Default)]
pub(crate) struct KindSettings {
    size: Option<usize>,
    min: Option<usize>,
    max: Option<usize>,
    policy: ScalePolicy,
    adaptive: AdaptiveLaid,
    size_origin: Option<Origin>,
    min_origin: Option<Origin>,
    max_origin: Option<Origin>,
    policy_origin: Option<Origin>,
}

impl KindSettings {
    /// Trades these (the other kind's) for the group's own.
    fn trade(&mut self, settings: &mut GroupSettings, why: &mut Provenance) {
        use std::mem::swap;
        swap(&mut self.size, &mut settings.size);
        swap(&mut self.min, &mut settings.min);
        swap(&mut self.max, &mut settings.max);
        swap(&mut self.policy, &mut settings.policy);
        swap(&mut self.adaptive, &mut why.adaptive);
        swap(&mut self.size_origin, &mut why.size);
        swap(&mut self.min_origin, &mut why.min);
        swap(&mut self.max_origin, &mut why.max);
        swap(&mut self.policy_origin, &mut why.policy);
    }
}

impl Provenance {
    /// Where the setting that `err` refuses came from (`None`: from the
    /// group's declaration, not from configuration).
    pub(crate) fn of(&self, err: &BuildError) -> &Option<Origin> {
        fn first<'a>(origins: &[&'a Option<Origin>]) -> &'a Option<Origin> {
            origins
                .iter()
                .copied()
                .find(|o| o.is_some())
                .unwrap_or(&None)
        }
        match err {
            BuildError::ZeroSize | BuildError::SizeOutsideBounds { .. } => &self.size,
            BuildError::ZeroMax => &self.max,
            BuildError::MinAboveMax { .. } => first(&[&self.min, &self.max]),
            BuildError::TooLarge { .. } => first(&[&self.size, &self.max, &self.min]),
            BuildError::BoundsOnFixedPool => first(&[&self.min, &self.max, &self.kind]),
            BuildError::PolicyOnFixedPool => first(&[&self.policy, &self.kind]),
            BuildError::ZeroWindow => &self.autoscale_window,
            BuildError::ZeroInterval => &self.autoscale_interval,
            BuildError::NeedsFeature {
                setting: "fleet_limit",
                ..
            } => &self.fleet_limit,
            BuildError::Unavailable { .. } | BuildError::NeedsFeature { .. } => &self.executor,
            BuildError::OutOfRange { setting, .. } => match *setting {
                "autoscale_window" => &self.autoscale_window,
                "max_waiting" => &self.max_waiting,
                "fleet_limit" => &self.fleet_limit,
                "fleet_url" => first(&[&self.fleet_url, &self.fleet_limit]),
                "fleet_lease" => &self.fleet_lease,
                // An adaptive parameter: where it was set, else (the
                // declaration's) where the policy or the kind was.
                setting => {
                    let param = setting
                        .strip_prefix("AdaptiveSettings::")
                        .map_or(&None, |name| self.adaptive.origin(name));
                    first(&[param, &self.policy, &self.kind])
                }
            },
        }
    }
}

impl Overrides {
    /// A defaults layer's counts for the group's final kind (`size` for a
    /// fixed group, `min`/`max` for an autoscaled one), where no layer left
    /// one: after a stronger layer changed the kind, the defaults still
    /// apply to the kind the group has. Its adaptive parameters likewise
    /// reach a group whose final policy is adaptive, whichever layer named
    /// it, where no stronger layer set them.
    #[cfg(feature = "config")]
    pub(crate) fn fill(&self, settings: &mut GroupSettings, why: &mut Provenance) {
        if let ScalePolicy::Adaptive(params) = &mut settings.policy {
            self.adaptive.apply(&mut why.adaptive, true);
            *params = why.adaptive.params;
        }
        let fill =
            |slot: &mut Option<usize>, val: &Option<Val<usize>>, why: &mut Option<Origin>| {
                if let (None, Some(v)) = (&slot, val) {
                    *slot = Some(v.value);
                    *why = Some(v.origin.clone());
                }
            };
        if settings.kind == Kind::Autoscale {
            fill(&mut settings.min, &self.min, &mut why.min);
            fill(&mut settings.max, &self.max, &mut why.max);
        } else {
            fill(&mut settings.size, &self.size, &mut why.size);
        }
    }

    /// Lays this layer over `settings`. `min`/`max` of a defaults layer only
    /// apply to autoscaled groups, and `size` only to fixed ones, so one
    /// `[defaults]` table can serve both kinds. A kind change trades the
    /// counts of the kind the group leaves for those set earlier for the
    /// kind it takes (kept in `why.other_kind`, see [`KindSettings`]).
    pub(crate) fn apply(&self, settings: &mut GroupSettings, why: &mut Provenance, defaults: bool) {
        fn set<T: Clone>(slot: &mut T, val: &Option<Val<T>>, origin: Option<&mut Option<Origin>>) {
            if let Some(v) = val {
                *slot = v.value.clone();
                if let Some(origin) = origin {
                    *origin = Some(v.origin.clone());
                }
            }
        }
        if let Some(kind) = &self.kind {
            if kind.value != settings.kind {
                // A layer that changes the kind sets aside what the layers
                // below set for the kind the group leaves (a declared fixed
                // `size`, autoscale bounds, a policy) and brings back what
                // they set for the kind it gives, if anything: this layer's
                // own values follow (see `KindSettings`).
                let mut other = std::mem::take(&mut why.other_kind);
                other.trade(settings, why);
                why.other_kind = other;
            }
        }
        set(&mut settings.kind, &self.kind, Some(&mut why.kind));
        set(&mut settings.order, &self.order, None);
        let autoscaled = settings.kind == Kind::Autoscale;
        let set_count =
            |slot: &mut Option<usize>, val: &Option<Val<usize>>, why: &mut Option<Origin>| {
                if let Some(v) = val {
                    *slot = Some(v.value);
                    *why = Some(v.origin.clone());
                }
            };
        if !defaults || !autoscaled {
            set_count(&mut settings.size, &self.size, &mut why.size);
        }
        if !defaults || autoscaled {
            set_count(&mut settings.min, &self.min, &mut why.min);
            set_count(&mut settings.max, &self.max, &mut why.max);
        }
        if defaults {
            // The defaults' counts for the kind the group does not have
            // here belong to that kind, over the declaration's (the defaults
            // beat it): a stronger layer that gives the group that kind
            // brings them back with it (`KindSettings`). Its bounds only:
            // its policy is for groups autoscaled by then (the module docs).
            let other = &mut why.other_kind;
            if autoscaled {
                set_count(&mut other.size, &self.size, &mut other.size_origin);
            } else {
                set_count(&mut other.min, &self.min, &mut other.min_origin);
                set_count(&mut other.max, &self.max, &mut other.max_origin);
                // (Its `policy` is for groups autoscaled by then only: the
                // module docs.)
            }
        }
        if let Some(v) = &self.max_waiting {
            settings.max_waiting = v.value;
            why.max_waiting = Some(v.origin.clone());
        }
        if let Some(v) = &self.admission_timeout {
            settings.admission_timeout = v.value;
        }
        if let Some(v) = &self.sync_barging {
            // Through the setter, where a zero bound becomes "off".
            *settings = settings.sync_barging(v.value);
        }
        set(
            &mut settings.executor,
            &self.executor,
            Some(&mut why.executor),
        );
        if let Some(v) = &self.fleet_limit {
            settings.fleet.limit = Some(v.value);
            why.fleet_limit = Some(v.origin.clone());
        }
        if let Some(v) = &self.fleet_url {
            settings.fleet.url = Some(v.value);
            why.fleet_url = Some(v.origin.clone());
        }
        set(
            &mut settings.fleet.lease,
            &self.fleet_lease,
            Some(&mut why.fleet_lease),
        );
        set(
            &mut settings.fleet.unreachable,
            &self.fleet_unreachable,
            None,
        );
        // A defaults layer's policy is for autoscaled groups, as its bounds
        // are: one `[defaults]` table serves fixed groups too. Its adaptive
        // parameters are for the groups whose final policy is adaptive
        // (`fill`).
        let policy = self.policy.as_ref().filter(|_| !defaults || autoscaled);
        if let Some(v) = policy {
            why.policy = Some(v.origin.clone());
            settings.policy = match v.value {
                PolicyName::QueueDepth => ScalePolicy::QueueDepth,
                PolicyName::Adaptive => ScalePolicy::Adaptive(why.adaptive.params),
            };
        }
        // Parameters of the adaptive policy: laid whatever the policy now,
        // for the policy the group ends up with (a group that does not
        // follow it is refused at validation, at the parameter).
        if !defaults {
            self.adaptive.apply(&mut why.adaptive, false);
        }
        if let ScalePolicy::Adaptive(params) = &mut settings.policy {
            *params = why.adaptive.params;
        }
        self.apply_timing(settings, why);
    }

    fn apply_timing(&self, settings: &mut GroupSettings, why: &mut Provenance) {
        fn set<T: Clone>(slot: &mut T, val: &Option<Val<T>>, origin: &mut Option<Origin>) {
            if let Some(v) = val {
                *slot = v.value.clone();
                *origin = Some(v.origin.clone());
            }
        }
        let AutoscaleTiming { interval, window } = &mut settings.autoscale;
        set(
            interval,
            &self.autoscale_interval,
            &mut why.autoscale_interval,
        );
        set(window, &self.autoscale_window, &mut why.autoscale_window);
    }
}
