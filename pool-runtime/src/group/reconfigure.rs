//! A group applies new settings to its running pool itself: configuration
//! computes the effective settings from its layers and hands them over,
//! without knowing a group's internals.

use super::settings::GroupSettings;
use super::Group;
use crate::config::{show, Change, Effect};
use crate::pool::order::Kind;
use crate::scale::adaptive::AdaptiveSettings;
use crate::scale::{LimitCause, ScalePolicy};
use crate::unwind::caught;

impl Group {
    /// Moves the group from the settings `before` to `after`: what a running
    /// pool can take at once (sizes, bounds, the waiting bound, the admission
    /// timeout, sync barging, autoscale timing) is applied now; what it cannot (kind, order,
    /// policy, the fleet settings, or a setting its kind has no use for)
    /// takes effect at its next start. Returns each setting that changed and when it takes effect.
    pub(crate) fn reconfigure(&self, before: &GroupSettings, after: &GroupSettings) -> Vec<Change> {
        let (before, after) = (*before, *after);
        let mut changes = Vec::new();
        if before == after {
            return changes;
        }
        let pool = self.started_pool();
        let live = |restart: bool| match (&pool, restart) {
            (None, _) => Effect::AtFirstUse,
            (Some(_), true) => Effect::AtRestart,
            (Some(_), false) => Effect::Applied,
        };
        let mut change = |setting: &'static str, from: String, to: String, restart: bool| {
            changes.push(Change {
                group: self.name(),
                setting,
                from,
                to,
                effect: live(restart),
            });
        };
        if before.kind != after.kind {
            change(
                "kind",
                before.kind.to_string(),
                after.kind.to_string(),
                true,
            );
        }
        if before.order != after.order {
            change(
                "order",
                before.order.to_string(),
                after.order.to_string(),
                true,
            );
        }
        // A setting the running pool's kind has no use for (a fixed pool's
        // `min`, an autoscaled pool's `size`), or one that comes with a new
        // kind, takes effect with that kind, at restart.
        let applied = *self.applied();
        let running_kind = applied.map(|s| s.kind).filter(|k| *k == after.kind);
        let (fixed, autoscaled) = (
            running_kind == Some(Kind::Fixed),
            running_kind == Some(Kind::Autoscale),
        );
        // Compared as the pool takes them, defaults filled in. The running
        // pool is moved from the counts it was last given (`applied`), not
        // from `before`: a load that gave the group another kind (waiting
        // for a restart) left them alone, so one that gives the running kind
        // back resizes the pool only if that kind's counts changed, and a
        // manual `scale` survives the round trip.
        let ((size_was, bounds_was), (size, bounds)) = (before.resolved(), after.resolved());
        let (running_size, running_bounds) =
            applied.map_or((size_was, bounds_was), |s| s.resolved());
        // A row says what moves: for the running pool's kind, from what it
        // runs with (a kind round trip that gives a fixed pool its own size
        // back moves nothing, though the configured size went 3 -> 4).
        let size_from = if fixed { running_size } else { size_was };
        if size_from != size {
            change("size", size_from.to_string(), size.to_string(), !fixed);
        }
        // A pool that grows wakes the calls it admits; a waker's panic, which
        // the pool re-raises once the resize is done, is caught (the panic
        // hook has shown it): a reload is never cut short (here and below).
        if let (Some(pool), true) = (&pool, fixed && running_size != size) {
            caught(|| pool.resize_for(size, LimitCause::Reload));
        }
        let bounds_from = if autoscaled {
            running_bounds
        } else {
            bounds_was
        };
        if bounds_from != bounds {
            // Bounds a fixed group does not have read `none` (not the
            // `0..=MAX_SLOTS` it resolves to): going to or from autoscale.
            let shown = |kind: Kind, n: usize| show(&(kind == Kind::Autoscale).then_some(n));
            let kind_was = if autoscaled { after.kind } else { before.kind };
            for (setting, was, now) in [
                ("min", bounds_from.0, bounds.0),
                ("max", bounds_from.1, bounds.1),
            ] {
                let (was, now) = (shown(kind_was, was), shown(after.kind, now));
                if was != now {
                    change(setting, was, now, !autoscaled);
                }
            }
        }
        if let (Some(pool), true) = (&pool, autoscaled && running_bounds != bounds) {
            let bounded = caught(|| pool.set_bounds_for(bounds.0, bounds.1, LimitCause::Reload));
            debug_assert!(
                !matches!(bounded, Some(Err(_))),
                "loaded settings are validated"
            );
        }
        if before.max_waiting != after.max_waiting {
            change(
                "max_waiting",
                show(&before.max_waiting),
                show(&after.max_waiting),
                false,
            );
            if let Some(pool) = &pool {
                let bounded = pool.set_max_waiting(after.max_waiting);
                debug_assert!(bounded.is_ok(), "loaded settings are validated");
            }
        }
        if before.admission_timeout != after.admission_timeout {
            change(
                "admission_timeout",
                show(&before.admission_timeout),
                show(&after.admission_timeout),
                false,
            );
            if let Some(pool) = &pool {
                pool.set_admission_timeout(after.admission_timeout);
            }
        }
        if before.sync_barging != after.sync_barging {
            change(
                "sync_barging",
                show(&before.sync_barging),
                show(&after.sync_barging),
                false,
            );
            if let Some(pool) = &pool {
                pool.set_sync_barging(after.sync_barging);
            }
        }
        // The policy by its name, its parameters each by its own key (as
        // in a file), so that a report can be read by the key that changed.
        let (policy_was, policy) = (before.policy.name(), after.policy.name());
        if policy_was != policy {
            change("policy", policy_was.to_owned(), policy.to_owned(), true);
        }
        // A policy that is not adaptive has no parameters: they read `none`
        // (as `min` and `max` do for a kind that has none), so a switch
        // reports those it brings or drops.
        let keyed = |policy: ScalePolicy| match policy {
            ScalePolicy::Adaptive(params) => params.keyed(),
            ScalePolicy::QueueDepth => AdaptiveSettings::DEFAULT
                .keyed()
                .map(|(key, _)| (key, show::<u8>(&None))),
        };
        for ((key, was), (_, now)) in keyed(before.policy).into_iter().zip(keyed(after.policy)) {
            if was != now {
                change(key, was, now, true);
            }
        }
        if before.executor != after.executor {
            change(
                "executor",
                before.executor.to_string(),
                after.executor.to_string(),
                true,
            );
        }
        if before.autoscale != after.autoscale {
            let (was, now) = (before.autoscale, after.autoscale);
            if was.interval != now.interval {
                let (from, to) = (format!("{:?}", was.interval), format!("{:?}", now.interval));
                change("autoscale_interval", from, to, !autoscaled);
            }
            if was.window != now.window {
                let (from, to) = (was.window.to_string(), now.window.to_string());
                change("autoscale_window", from, to, !autoscaled);
            }
            if let (Some(pool), true) = (&pool, autoscaled) {
                let restarted = caught(|| pool.set_autoscale_timing(after.autoscale));
                debug_assert!(
                    !matches!(restarted, Some(Err(_))),
                    "loaded settings are validated"
                );
            }
        }
        // A group's fleet is set up with the settings it started with (see
        // `fleet`): a change takes effect at restart.
        let (fleet_was, fleet) = (before.fleet, after.fleet);
        if fleet_was.limit != fleet.limit {
            change(
                "fleet_limit",
                show(&fleet_was.limit),
                show(&fleet.limit),
                true,
            );
        }
        if fleet_was.url != fleet.url {
            change("fleet_url", show(&fleet_was.url), show(&fleet.url), true);
        }
        if fleet_was.lease != fleet.lease {
            change(
                "fleet_lease",
                format!("{:?}", fleet_was.lease),
                format!("{:?}", fleet.lease),
                true,
            );
        }
        if fleet_was.unreachable != fleet.unreachable {
            change(
                "fleet_unreachable",
                fleet_was.unreachable.to_string(),
                fleet.unreachable.to_string(),
                true,
            );
        }
        if pool.is_some() {
            let mut applied = self.applied();
            if let Some(settings) = applied.as_mut() {
                // Kind, order, policy, executor and the fleet settings stay
                // what the pool (and its fleet) runs with; so do its counts
                // while the configuration gives the group another kind
                // (they are that kind's, for the next start).
                let counts = if settings.kind == after.kind {
                    (after.size, after.min, after.max)
                } else {
                    (settings.size, settings.min, settings.max)
                };
                *settings = GroupSettings {
                    kind: settings.kind,
                    order: settings.order,
                    policy: settings.policy,
                    executor: settings.executor,
                    fleet: settings.fleet,
                    ..after
                };
                (settings.size, settings.min, settings.max) = counts;
            }
        }
        changes
    }
}
