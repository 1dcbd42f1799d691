//! Application-wide throttling configuration: tune every group from one TOML
//! file and the environment, without recompiling; reload into running pools.
//!
//! # Precedence
//!
//! From weakest to strongest:
//!
//! 1. the attribute's (or group declaration's) values;
//! 2. the file's `[defaults]` table (its `size` applies to fixed groups only,
//!    its `min`/`max` to autoscaled ones only: the kind a group ends up with,
//!    after the layers above; its `policy` to groups autoscaled by then, and
//!    its `adaptive_*` parameters to groups whose policy is adaptive in the
//!    end, whichever layer named it, and its
//!    `fleet_url`/`fleet_lease`/`fleet_unreachable` to groups with a fleet
//!    limit (in a group's table or variable, they are an error without one),
//!    so one table serves every kind);
//! 3. the file's `[groups."<name>"]` table;
//! 4. environment variables `POOLED_<GROUP>_<SETTING>` (see [`mangle`]);
//! 5. calls made at run time (`scale`, `resize`): a reload changes a running
//!    pool's size only when the configured size itself changed, so it does not
//!    undo a manual `scale` it has nothing new to say about.
//!
//! Counts belong to a kind: `size` set while a group is fixed is its slot
//! count; `size` (where it starts), `min`, `max` and `policy` set while it
//! is autoscaled are the autoscaled group's. A layer that changes the kind
//! (`kind = "..."`) sets aside what the layers below it set for the kind the
//! group leaves, and brings back what they set for the kind it gives: a
//! group declared with `size = 4`, made autoscaled by its file table and
//! fixed again by the environment, is fixed with 4 slots (or the
//! `[defaults]` size, which beats the declaration), not the default 3; the
//! bounds or start the table set in between are set aside, not used, and
//! not an error (if each is valid on its own: a `max` of 0, or a `min`
//! above the same table's `max`, is refused wherever it is written, as
//! every value is checked). Bounds given in a layer where the group is fixed (by that
//! layer's `kind`, or by the layers below it) are refused where they are
//! given: a fixed group has none, and a stronger layer making it autoscaled
//! would not find them (say `kind = "autoscale"` next to them). A running pool keeps its
//! kind until it restarts: a load that changes the kind changes nothing in
//! it, and one that brings its kind back resizes it only if that kind's
//! counts changed.
//!
//! The adaptive policy's parameters (`adaptive_*`) are settings of their own,
//! one at a time like the others: each layer's replaces that parameter
//! alone, over what the weaker layers and the declaration gave, whichever
//! layer names the policy. They are used if the group's policy is adaptive
//! in the end; a group table's or variable's on a group whose policy is not
//! is an error at the parameter. They belong to the autoscaled kind with
//! the policy: a layer that makes the group fixed sets them aside with it
//! (no error), and, like bounds, they are refused where they are given in
//! a layer where the group is fixed.
//!
//! # Sources
//!
//! At the first use of any group, the file named by `POOLED_CONFIG` (if set;
//! set to the empty string it names no file, as if unset) and the `POOLED_*`
//! variables are read. Errors found then cannot be returned
//! to anyone: they are reported once — through the `log` facade (target
//! `pooled::config`, level WARN) when a logger is installed, else on stderr —
#![cfg_attr(
    feature = "config",
    doc = " and the attribute values stand; call [`load_env`] (or [`load`]) at"
)]
#![cfg_attr(
    not(feature = "config"),
    doc = " and the attribute values stand; call `load_env` (or `load`) at"
)]
//! start-up to handle them yourself.
//!
//! Loading is all or nothing: an invalid file or variable changes nothing (a
//! valid one is applied to every group, whatever the wakers and reports it
//! runs do: a waker's panic is caught, the panic hook shows it, and the load
//! goes on), and
//! the error names the file, line and column (or the variable) and the valid
//! choices. A section or variable naming no known group is an error listing
//! the known ones, with a "did you mean". Every group in the binary is known,
//! including ones never called: `#[pooled]` registers them at link time. An
//! unknown key says what it is close to; a key in the wrong place says where
//! it goes (a group setting written before any table goes in `[defaults]` or
//! a group's table; `ceiling` is a top-level key, not a group setting).
//!
//! # Live reload
//!
#![cfg_attr(
    feature = "config",
    doc = " [`load`] applies changed limits to running pools at once: growing admits"
)]
#![cfg_attr(
    not(feature = "config"),
    doc = " `load` applies changed limits to running pools at once: growing admits"
)]
//! waiting calls, shrinking lets running calls finish; the waiting bound,
//! admission timeout and sync barging bound (`sync_barging`; `"0s"` turns it
//! off) apply to calls that arrive from then on, the autoscale timing at
//! once. Kind, order, the scale policy (with its `adaptive_*` parameters),
//! the executor and the fleet settings (`fleet_*`) are fixed while a pool
//! runs (reported as [`Effect::AtRestart`]).
#![cfg_attr(
    feature = "config",
    doc = " [`watch`] does it whenever the file changes: it looks every so often on"
)]
#![cfg_attr(
    not(feature = "config"),
    doc = " `watch` does it whenever the file changes: it looks every so often on"
)]
//! a thread of its own and hands each reload's report (or error) to a
//! callback.
//!
//! # Bounds
//!
//! Loads check every value against the same bounds as
//! [`PoolBuilder::build`](crate::PoolBuilder::build), defined once each:
//! slot counts, `max_waiting` and the ceiling up to [`MAX_SLOTS`](crate::MAX_SLOTS);
//! `autoscale_window` from 1 to
//! [`AutoscaleTiming::MAX_WINDOW`](crate::AutoscaleTiming::MAX_WINDOW); a
//! group made adaptive by `policy = "adaptive"` needs its declared
//! [`AdaptiveSettings`](crate::AdaptiveSettings) within their ranges
//! ([`AdaptiveSettings::validate`](crate::AdaptiveSettings::validate)).
//! Every value a file or variable writes is checked against its own range
//! where it is written, whether or not it reaches a group: in a
//! `[defaults]` table, and where a stronger layer replaces it or sets it
//! aside (a fixed group's `size = 0` in a table whose size a variable
//! replaces is refused at the table's line; so is a `size` outside the
//! same table's `min`/`max`, an `autoscale_window = 0` or a
//! `fleet_limit` past `MAX_SLOTS`). An error names the offending
//! value's own place (file, line and column, or the variable).
//! An autoscaled group's start (`size`) that only its declaration gives is
//! brought into the bounds a load gives: `max = 2` for a group declared to
//! start at 3 is no error, and it starts at 2 (its effective settings,
//! [`Group::settings`](crate::Group::settings), say `size = 2`, and pass
//! their check). A `size` a file or variable gives outside the bounds is an
//! error at it.
//!
//! The optional bounds, `max_waiting` and `admission_timeout`, are removed
//! by the word `none` (a string in a file, `max_waiting = "none"`, whatever
//! type the setting's values have; `POOLED_<GROUP>_MAX_WAITING=none`): a
//! layer can take away a bound the declaration or a weaker layer gave, and a
//! reload applies that to the running pool as it applies a new bound.
//!
//! # Ceiling
//!
//! `ceiling = N` (or `POOLED_CEILING=N`) limits the calls running across all
//! groups; see [`ceiling`](crate::group::ceiling). `N` is from 1 to
//! [`MAX_SLOTS`](crate::MAX_SLOTS): a ceiling of 0, which would admit no call
//! at all, is a load error (leave the setting out for no ceiling).
//!
//! # Lock order
//!
//! One lock guards the configuration in force. It is the outermost lock: a
//! group's first use builds and publishes its pool under it (so a load comes
//! either before the pool is built or after it is published), and it is
//! taken before the leaf locks — a group's record of its applied settings,
//! the pools' admission locks, the ceiling's — never the other way round.
//! Loads only look whether a group's pool has started and never wait for one
//! to start. The full order is in the docs of `Group`'s module (`group.rs`).

mod env;
#[cfg(feature = "redis")]
pub(crate) use env::warn;
mod error;
#[cfg(feature = "config")]
mod file;
mod layer;
mod parse;
mod report;
#[cfg(feature = "config")]
mod watch;

pub use env::{mangle, CEILING_VAR, CONFIG_VAR};
pub use error::ConfigError;
pub use layer::Origin;
pub use report::{Change, Effect, Report};
#[cfg(feature = "config")]
pub use watch::{watch, Watch};

use crate::group::registry;
use crate::group::settings::GroupSettings;
use crate::group::{Group, GroupSpec};
use crate::pool::order::Kind;
use layer::Provenance;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Every configuration layer in force.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Layers {
    #[cfg(feature = "config")]
    file: Option<file::FileLayer>,
    env: env::EnvLayer,
}

/// The layers in force. Held only to read or swap them: never while the
/// user's code runs (a load moving running pools, whose wakers and reports
/// may read the configuration; a group's first use building its pool; the
/// first read of the environment giving its warnings to a logger).
static STATE: Mutex<Option<Arc<Layers>>> = Mutex::new(None);

/// Held by a load from before it reads the layers in force until it has
/// applied the new ones to every running pool: loads are applied one at a
/// time, each from the layers the previous one left. Held as well by the
/// first read of the environment ([`first_read`]).
static LOADING: Mutex<()> = Mutex::new(());

std::thread_local! {
    /// This thread is applying a load (see [`replace`]).
    static APPLYING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The layers this thread is reading from the environment, not yet
    /// stored (see [`first_read`]).
    static READING: std::cell::RefCell<Option<Arc<Layers>>> = const { std::cell::RefCell::new(None) };
}

/// Marks this thread as applying a load (see [`APPLYING`]) until dropped.
struct Applying;

impl Applying {
    fn on_this_thread() -> Applying {
        APPLYING.set(true);
        Applying
    }
}

impl Drop for Applying {
    fn drop(&mut self) {
        APPLYING.set(false);
    }
}

fn state() -> MutexGuard<'static, Option<Arc<Layers>>> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn known_names() -> Vec<&'static str> {
    let mut names: Vec<_> = registry::registered_groups().map(Group::name).collect();
    names.sort_unstable();
    names.dedup();
    names
}

impl Layers {
    /// Reads `POOLED_CONFIG` and the `POOLED_*` variables; the warnings
    /// (variables ignored) are added to `warnings`.
    fn from_process_env(warnings: &mut Vec<String>) -> Result<Layers, ConfigError> {
        let known = known_names();
        #[allow(unused_mut, clippy::needless_update)]
        let mut layers = Layers {
            env: env::read_process(&known, warnings)?,
            ..Layers::default()
        };
        #[cfg(feature = "config")]
        if let Some(path) = std::env::var_os(CONFIG_VAR).filter(|path| !path.is_empty()) {
            layers.file = Some(read_file(std::path::Path::new(&path), &known)?);
        }
        layers.validate()?;
        Ok(layers)
    }

    fn effective(&self, spec: &GroupSpec) -> (GroupSettings, Provenance) {
        let mut settings = *spec.settings();
        let mut why = Provenance::default();
        if let crate::ScalePolicy::Adaptive(declared) = settings.policy {
            why.adaptive.params = declared;
        }
        #[cfg(feature = "config")]
        if let Some(file) = &self.file {
            file.defaults.apply(&mut settings, &mut why, true);
            if let Some(section) = file.groups.get(spec.name()) {
                section.apply(&mut settings, &mut why, false);
            }
        }
        if let Some(section) = self.env.groups.get(spec.name()) {
            section.apply(&mut settings, &mut why, false);
        }
        // A stronger layer that changed the kind set aside the counts from
        // below, the defaults' among them, and the defaults skipped the
        // counts of the kind the group did not have yet: the defaults' counts
        // for the final kind fill in what no stronger layer set. So do its
        // adaptive parameters, if the group's final policy is adaptive.
        #[cfg(feature = "config")]
        if let Some(file) = &self.file {
            file.defaults.fill(&mut settings, &mut why);
        }
        // An autoscaled group's start that only its declaration gives is
        // brought into the bounds a layer gives (see "Bounds"): the settings
        // in force are those the pool starts with, and pass their check.
        if settings.kind == Kind::Autoscale
            && why.size.is_none()
            && (why.min.is_some() || why.max.is_some())
        {
            let (min, max) = pool_settings::limits::autoscale_bounds(settings.min, settings.max);
            if let (Some(size), true) = (settings.size, min <= max) {
                settings.size = Some(size.clamp(min, max));
            }
        }
        (settings, why)
    }

    fn ceiling(&self) -> Option<usize> {
        #[cfg(feature = "config")]
        if self.env.ceiling.is_none() {
            return self
                .file
                .as_ref()
                .and_then(|f| f.ceiling.as_ref())
                .map(|c| c.value);
        }
        self.env.ceiling.as_ref().map(|c| c.value)
    }

    /// The sections that name `group` (file, then environment).
    fn sections(&self, group: &str) -> Vec<&layer::Overrides> {
        let mut sections = Vec::new();
        #[cfg(feature = "config")]
        if let Some(section) = self.file.as_ref().and_then(|f| f.groups.get(group)) {
            sections.push(section);
        }
        if let Some(section) = self.env.groups.get(group) {
            sections.push(section);
        }
        sections
    }

    /// Checks every registered group's effective settings.
    fn validate(&self) -> Result<(), ConfigError> {
        unique_names()?;
        for group in registry::registered_groups() {
            let (s, why) = self.effective(group.spec());
            let name = group.name();
            let fail = |origin: &Option<Origin>, message: String| match origin {
                Some(origin) => Err(ConfigError::at(origin.clone(), message)),
                None => Ok(()),
            };
            // Bounds given where the group is fixed (by that layer's own
            // `kind`, or by what is below it) are a mistake, named where it
            // is made. Bounds given where it is autoscaled are that kind's
            // counts: a stronger layer that makes the group fixed sets them
            // aside (see `layer::KindSettings`), which is no error. (An
            // autoscaled group's `size` is where it starts.)
            let mut kind = group.spec().settings().kind;
            #[cfg(feature = "config")]
            if let Some(v) = self.file.as_ref().and_then(|f| f.defaults.kind.as_ref()) {
                kind = v.value;
            }
            let not_adaptive = || {
                format!(
                    "group `{name}`: the `adaptive_*` parameters apply to groups whose \
                     policy is \"adaptive\"; set `policy = \"adaptive\"` (and an \
                     autoscaled `kind`), or leave them out"
                )
            };
            for section in self.sections(name) {
                if let Some(v) = &section.kind {
                    kind = v.value;
                }
                if kind != Kind::Fixed {
                    continue;
                }
                // A fixed group's `size` here is its slot count, whichever
                // layer above replaces it or sets it aside: checked as one.
                if let Some(v) = section.size.as_ref().filter(|v| v.value == 0) {
                    let err = crate::BuildError::ZeroSize;
                    fail(&Some(v.origin.clone()), format!("group `{name}`: {err}"))?;
                }
                for v in [&section.min, &section.max].into_iter().flatten() {
                    fail(&Some(v.origin.clone()), format!(
                        "`min`/`max` apply to autoscaled groups; group `{name}` is fixed: set `size`, or `kind = \"autoscale\"`"
                    ))?;
                }
                // So are the adaptive policy's parameters: a fixed group
                // follows no policy, and a stronger layer making it
                // autoscaled would set them aside with the fixed kind's
                // settings.
                if let Some(origin) = section.adaptive.origins().next() {
                    fail(&Some(origin.clone()), not_adaptive())?;
                }
            }
            // Fleet keys of a group without a fleet limit configure nothing:
            // refused where a group's table or variable gives them, by the
            // attribute's own rule. (A `[defaults]` table's are for the
            // groups that have a limit, as its `policy` is for autoscaled
            // ones.)
            for section in self.sections(name) {
                let given = |key: &'static str| match key {
                    "fleet_url" => section.fleet_url.as_ref().map(|v| &v.origin),
                    "fleet_lease" => section.fleet_lease.as_ref().map(|v| &v.origin),
                    "fleet_unreachable" => section.fleet_unreachable.as_ref().map(|v| &v.origin),
                    _ => None,
                };
                let limited = s.fleet.limit.is_some();
                if let Some((key, origin)) =
                    pool_settings::fleet::without_limit(limited, given).next()
                {
                    fail(
                        &Some(origin.clone()),
                        format!("group `{name}`: {}", pool_settings::fleet::needs_limit(key)),
                    )?;
                }
            }
            // Adaptive parameters a group's table or variable set (and a
            // stronger layer did not set aside with the autoscaled kind) on
            // a group whose final policy is not adaptive. (A `[defaults]`
            // table's are for the groups whose policy is adaptive.)
            if !matches!(s.policy, crate::ScalePolicy::Adaptive(_)) {
                fail(&why.adaptive.first().cloned(), not_adaptive())?;
            }
            // The builder's own rule, so that a file, the environment and
            // the builder refuse the same settings with the same message.
            // The fleet settings are checked on their own too: an error the
            // check finds first in the declaration (not configuration's to
            // report) must not hide a bad fleet setting configuration gave,
            // which would otherwise only be found at the group's first use.
            let fleet = s.fleet.check().err();
            for err in [s.check().err(), fleet].into_iter().flatten() {
                fail(why.of(&err), format!("group `{name}`: {err}"))?;
            }
        }
        self.check_values()
    }

    /// Checks each value with a range of its own that configuration does
    /// not check as it parses it — the adaptive parameters, `fleet_limit`,
    /// `fleet_lease`, `fleet_url`, `max` (at least 1), `autoscale_window`,
    /// `autoscale_interval`, `max_waiting`, a `[defaults]` `size` of 0 (a
    /// group table's where the group is fixed: `validate`),
    /// and a `min` above, or a `size` outside, its own table's bounds — on
    /// its own, by the builder's rule, wherever it is
    /// written: in a `[defaults]` table (whose values reach only some
    /// groups, or none), and in a layer whose value a stronger one replaced
    /// or set aside. A value that reaches a group is checked there first
    /// (with the group's name in the message).
    fn check_values(&self) -> Result<(), ConfigError> {
        let mut sections: Vec<(Option<&str>, &layer::Overrides)> = Vec::new();
        #[cfg(feature = "config")]
        if let Some(file) = &self.file {
            sections.push((None, &file.defaults));
            sections.extend(file.groups.iter().map(|(g, o)| (Some(g.as_str()), o)));
        }
        sections.extend(self.env.groups.iter().map(|(g, o)| (Some(g.as_str()), o)));
        for (group, section) in sections {
            let fail = |origin: &Origin, err: crate::BuildError| {
                let message = match group {
                    Some(name) => format!("group `{name}`: {err}"),
                    None => format!("[defaults]: {err}"),
                };
                Err(ConfigError::at(origin.clone(), message))
            };
            if let Err((origin, err)) = section.adaptive.check_each() {
                return fail(&origin, err);
            }
            // Bounds no group could be built with, whichever groups they
            // reach: a `max` of 0, and a `min` above the same table's (or
            // variable set's) `max`. (Counts valid on their own that a
            // stronger layer sets aside are no error.)
            if let Some(max) = section.max.as_ref().filter(|max| max.value == 0) {
                return fail(&max.origin, crate::BuildError::ZeroMax);
            }
            if let (Some(min), Some(max)) = (&section.min, &section.max) {
                if min.value > max.value {
                    let err = crate::BuildError::MinAboveMax {
                        min: min.value,
                        max: max.value,
                    };
                    return fail(&min.origin, err);
                }
            }
            // A start outside the same group table's (or variable set's)
            // own bounds, which no layer could make valid for it. (A
            // `[defaults]` size is a fixed group's, its bounds autoscaled
            // groups': they never meet.)
            let bounded = section.min.is_some() || section.max.is_some();
            if let Some(size) = section.size.as_ref().filter(|_| group.is_some() && bounded) {
                let min = section.min.as_ref().map_or(0, |v| v.value);
                let max = section.max.as_ref().map_or(crate::MAX_SLOTS, |v| v.value);
                if !(min..=max).contains(&size.value) {
                    let err = crate::BuildError::SizeOutsideBounds {
                        size: size.value,
                        min,
                        max,
                    };
                    return fail(&size.origin, err);
                }
            }
            // A `[defaults]` size is a fixed group's slot count (it reaches
            // no other). (A group table's or variable's, where the group is
            // fixed, is checked by `validate`, which follows the kind.)
            if let Some(size) = section
                .size
                .as_ref()
                .filter(|v| v.value == 0 && group.is_none())
            {
                return fail(&size.origin, crate::BuildError::ZeroSize);
            }
            // The autoscale timing, each value on its own (the builder's
            // check over the defaults with that one changed).
            let timing = crate::AutoscaleTiming::DEFAULT;
            if let Some(v) = &section.autoscale_window {
                let one = crate::AutoscaleTiming {
                    window: v.value,
                    ..timing
                };
                if let Err(err) = one.validate() {
                    return fail(&v.origin, err);
                }
            }
            if let Some(v) = &section.autoscale_interval {
                let one = crate::AutoscaleTiming {
                    interval: v.value,
                    ..timing
                };
                if let Err(err) = one.validate() {
                    return fail(&v.origin, err);
                }
            }
            if let Some(bound) = section
                .max_waiting
                .as_ref()
                .and_then(|v| v.value.map(|b| (b, v)))
            {
                if let Err(err) = crate::group::settings::check_max_waiting(bound.0) {
                    return fail(&bound.1.origin, err);
                }
            }
            if let Some(v) = &section.fleet_limit {
                if let Err(err) = crate::fleet::FleetSettings::check_limit(v.value) {
                    return fail(&v.origin, err);
                }
            }
            if let Some(v) = &section.fleet_lease {
                if let Err(err) = crate::fleet::FleetSettings::check_lease(v.value) {
                    return fail(&v.origin, err);
                }
            }
            if let Some(v) = &section.fleet_url {
                if let Err(err) = crate::fleet::FleetSettings::check_url(Some(v.value)) {
                    return fail(&v.origin, err);
                }
            }
        }
        Ok(())
    }
}

/// Two registered groups with one name would both take every setting
/// configuration gives that name: an error naming both.
fn unique_names() -> Result<(), ConfigError> {
    let mut groups: Vec<&'static Group> = registry::registered_groups().collect();
    groups.sort_by_key(|g| g.name());
    for pair in groups.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.name() == b.name() && !std::ptr::eq(a, b) {
            let at = |g: &Group| match g.spec().place() {
                "" => "(a hand-declared group)".to_owned(),
                place => place.to_owned(),
            };
            return Err(ConfigError {
                origin: None,
                message: format!(
                    "two groups are named `{}` (declared at {} and {}): configuration for that \
                 name would set both; give one of them another name (`name = \"...\"`), or \
                 declare one group and share it (`group = ...`)",
                    a.name(),
                    at(a),
                    at(b)
                ),
            });
        }
    }
    Ok(())
}

/// The layers in force, reading the process environment on first use.
fn current() -> Arc<Layers> {
    if let Some(layers) = &*state() {
        return layers.clone();
    }
    if let Some(layers) = READING.with_borrow(Option::clone) {
        return layers;
    }
    first_read()
}

/// The first read of the process environment: a load of it, under the
/// loading lock as a load is. The layers' ceiling is set before they are
/// stored: a first use on another thread finds no layers and waits for the
/// loading lock, so that no group call runs before the ceiling is in force.
/// The ceiling's resize reports to the user's code, which may read settings
/// or start a group on this thread: it is given the layers being read
/// ([`READING`]); a load it starts is refused, as from a load's. The
/// warnings are given (to a logger, the user's code) once the layers are
/// stored, without the configuration lock.
#[cold]
fn first_read() -> Arc<Layers> {
    let _loading = LOADING.lock().unwrap_or_else(PoisonError::into_inner);
    first_read_loading()
}

/// [`first_read`], with the loading lock held.
fn first_read_loading() -> Arc<Layers> {
    let stored = state().clone();
    stored.unwrap_or_else(read_environment)
}

/// [`first_read`], with the loading lock held and no layers stored.
fn read_environment() -> Arc<Layers> {
    // At a group's first use there is no caller to return an error to: the
    // environment is applied all or nothing, and a bad one is logged (call
    // `load_env` to get it as an error).
    let mut warnings = Vec::new();
    let layers = Arc::new(
        Layers::from_process_env(&mut warnings).unwrap_or_else(|err| {
            warnings.push(format!(
                "configuration from the environment not applied: {err}"
            ));
            Layers::default()
        }),
    );
    let _applying = Applying::on_this_thread();
    {
        struct Reading;
        impl Drop for Reading {
            fn drop(&mut self) {
                READING.set(None);
            }
        }
        READING.set(Some(layers.clone()));
        let _reading = Reading;
        crate::group::ceiling::set(layers.ceiling());
        *state() = Some(layers.clone());
    }
    env::warn_all(warnings);
    layers
}

/// A group's effective settings under the layers in force, and those layers
/// (for [`settle`]).
pub(crate) fn effective_in(spec: &GroupSpec) -> (GroupSettings, Arc<Layers>) {
    let layers = current();
    (layers.effective(spec).0, layers)
}

/// The effective settings of a group with this spec under the layers in
/// force, for a reader (`Group::settings`, `groups()`), who never waits for
/// the process's first read of its environment to finish on another thread:
/// that read runs the user's code (the ceiling's reports), which may wait
/// for this reader. Meanwhile the reader reads the environment itself (the
/// same variables and file, not stored; what it finds wrong is the first
/// read's to report). A group's first use does wait ([`effective_in`]): its
/// calls must find the environment's ceiling in force.
pub(crate) fn effective(spec: &GroupSpec) -> GroupSettings {
    if let Some(layers) = &*state() {
        return layers.effective(spec).0;
    }
    if let Some(layers) = READING.with_borrow(Option::clone) {
        return layers.effective(spec).0;
    }
    match LOADING.try_lock() {
        // Nothing is being loaded: this reader makes the first read.
        Ok(_loading) => first_read_loading().effective(spec).0,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => {
            let _loading = poisoned.into_inner();
            first_read_loading().effective(spec).0
        }
        // Being loaded (the first read, or a load that will store layers):
        // read the environment here.
        Err(std::sync::TryLockError::WouldBlock) => {
            let layers = Layers::from_process_env(&mut Vec::new()).unwrap_or_default();
            layers.effective(spec).0
        }
    }
}

/// Runs `publish` (a group's first use publishing the pool it built, without
/// any lock, with `built` — the settings of the group `spec` under the
/// layers `from`) if `built` are still the group's settings under the layers
/// in force, and says whether it ran. Under the configuration lock: a load
/// either stored layers that give the group other settings before (then
/// `false`, and the group builds again from them, as the load's report
/// says: "at first use"), or finds the group started when it applies them
/// (and moves its pool, or reports what waits for the next start). Loads
/// that leave the group's settings as they were (a file saved unchanged, a
/// change to other groups) do not send it to build again: loads landing
/// faster than a pool is built must not keep its first use from ending.
/// `publish` must not run the user's code.
pub(crate) fn publish_if_current(
    spec: &GroupSpec,
    built: &GroupSettings,
    from: &Arc<Layers>,
    publish: impl FnOnce(),
) -> bool {
    let same =
        |layers: &Arc<Layers>| Arc::ptr_eq(layers, from) || layers.effective(spec).0 == *built;
    let state = state();
    let current = match &*state {
        Some(layers) => same(layers),
        // The first read of the environment on this thread (its reports
        // start groups): its layers, not yet stored, are the ones in force.
        None => READING.with_borrow(|reading| reading.as_ref().is_none_or(same)),
    };
    if current {
        publish();
    }
    current
}

/// Reads and parses the file at `path`. The file is opened by its path as
/// given (which need not be unicode); its displayed form only names it in
/// errors.
#[cfg(feature = "config")]
fn read_file(
    path: &std::path::Path,
    known: &[&'static str],
) -> Result<file::FileLayer, ConfigError> {
    file::parse(&path.display().to_string(), &read_text(path)?, known)
}

/// The text of the configuration file at `path`: a regular file (a symbolic
/// link to one is one). Anything else is an error, not read: opening a named
/// pipe waits for a writer, and a device may never end, either of which
/// would freeze the load, the configuration lock it holds and every first
/// use of a group behind it.
#[cfg(feature = "config")]
fn read_text(path: &std::path::Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let error = |e: &dyn std::fmt::Display| ConfigError {
        origin: None,
        message: format!(
            "{}: cannot read the configuration file: {e}",
            path.display()
        ),
    };
    let not_a_file = || error(&"not a regular file");
    // Looked at before it is opened (the open is what would wait) and
    // again once open (it may have been replaced in between).
    if !std::fs::metadata(path).map_err(|e| error(&e))?.is_file() {
        return Err(not_a_file());
    }
    let mut file = std::fs::File::open(path).map_err(|e| error(&e))?;
    if !file.metadata().map_err(|e| error(&e))?.is_file() {
        return Err(not_a_file());
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| error(&e))?;
    Ok(text)
}

/// Loads a configuration file (replacing the previous file, keeping the
/// environment layer) and applies it to every group, running or not.
///
/// # Errors
///
/// A [`ConfigError`] naming the file, line and column, and the valid choices;
/// nothing is changed then.
///
/// # Examples
///
/// ```
/// use pool_runtime::{config, register_group, Group, GroupSpec};
///
/// static API: Group = Group::new(GroupSpec::new("docs::api").size(2));
/// register_group!(API);
///
/// let report = config::load_str("app.toml", "[groups.\"docs::api\"]\nsize = 6\n")?;
/// assert_eq!(API.size(), 6);
/// println!("{report}"); // docs::api: size 2 -> 6 (at first use)
///
/// let err = config::load_str("app.toml", "[groups.\"docs::apj\"]\nsize = 1\n").unwrap_err();
/// assert!(err.to_string().starts_with("app.toml:1:9: unknown group `docs::apj`; did you mean `docs::api`?"));
/// assert_eq!(API.size(), 6, "a bad load changes nothing");
/// # Ok::<(), config::ConfigError>(())
/// ```
#[cfg(feature = "config")]
pub fn load(path: impl AsRef<std::path::Path>) -> Result<Report, ConfigError> {
    let layer = read_file(path.as_ref(), &known_names())?;
    replace(|layers| layers.file = Some(layer))
}

/// [`load`] from text; `path` only names the source in errors.
///
/// # Errors
///
/// As [`load`].
#[cfg(feature = "config")]
pub fn load_str(path: &str, text: &str) -> Result<Report, ConfigError> {
    let layer = file::parse(path, text, &known_names())?;
    replace(|layers| layers.file = Some(layer))
}

/// Re-reads the `POOLED_*` environment variables (keeping the file layer)
/// and applies them.
///
/// # Errors
///
/// A [`ConfigError`] naming the variable; nothing is changed then.
pub fn load_env() -> Result<Report, ConfigError> {
    let mut warnings = Vec::new();
    let layer = env::read_process(&known_names(), &mut warnings);
    env::warn_all(warnings);
    let layer = layer?;
    replace(|layers| layers.env = layer)
}

/// [`load_env`] from an explicit list of variables instead of the process
/// environment (for tests and for applications that read their own).
///
/// # Errors
///
/// As [`load_env`].
pub fn load_env_from(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Report, ConfigError> {
    let layer = env::read(vars, &known_names())?;
    replace(|layers| layers.env = layer)
}

/// Drops every configuration layer: groups go back to their attribute values
/// (running pools are reconfigured like on a load) and the ceiling is lifted.
///
/// Called from inside a load being applied (by a waker the load woke, or a
/// `tracing` layer or `metrics` recorder it reported to), it changes
/// nothing, and says so through the `log` facade (or on stderr); the
/// returned report is empty.
pub fn clear() -> Report {
    match replace(|layers| *layers = Layers::default()) {
        Ok(report) => report,
        Err(err) => {
            env::warn(
                "pooled::config",
                &format!("configuration not cleared: {err}"),
            );
            Report::default()
        }
    }
}

/// Builds the next layers from the current ones, validates them, and applies
/// them to every group; all or nothing.
///
/// The new layers are in force (stored) before any running pool is moved to
/// them, and the pools are moved without the configuration lock: a pool that
/// grows admits waiting calls, whose wakers, and the reports to `tracing`
/// and `metrics`, are the user's code, which may read settings
/// ([`Group::settings`], [`groups`](crate::groups)). A group started
/// meanwhile starts with the new layers (and its reconfiguration below then
/// moves nothing). A waker's panic is caught where the pool re-raises it
/// (the panic hook has shown it): a load is never cut short. Loads are
/// applied one at a time ([`LOADING`]); one started from inside another's
/// application, on its thread, is refused (it would wait for itself).
fn replace(edit: impl FnOnce(&mut Layers)) -> Result<Report, ConfigError> {
    if APPLYING.get() {
        return Err(ConfigError {
            origin: None,
            message: "a configuration load cannot start while one is being applied on this \
                      thread (from a waker it woke, or a report it made); nothing changed"
                .to_owned(),
        });
    }
    let _loading = LOADING.lock().unwrap_or_else(PoisonError::into_inner);
    // (No other load nor first read can store layers while this one holds
    // the loading lock.)
    let stored = state().clone();
    let old = stored.unwrap_or_else(read_environment);
    let new = {
        let mut state = state();
        let mut new = (*old).clone();
        edit(&mut new);
        new.validate()?;
        let new = Arc::new(new);
        *state = Some(new.clone());
        new
    };
    let _applying = Applying::on_this_thread();
    let mut report = Report::default();
    for group in registry::registered_groups() {
        apply(group, &old, &new, &mut report);
    }
    let (was, now) = (old.ceiling(), new.ceiling());
    if was != now {
        crate::group::ceiling::set(now);
        report.changes.push(Change {
            group: "(ceiling)",
            setting: "ceiling",
            from: show(&was),
            to: show(&now),
            effect: Effect::Applied,
        });
    }
    Ok(report)
}

/// A setting's value in a [`Change`]: `none` for an unset optional one.
pub(crate) fn show<T: std::fmt::Debug>(value: &Option<T>) -> String {
    match value {
        Some(v) => format!("{v:?}"),
        None => parse::NONE.to_owned(),
    }
}

/// Reconfigures one group from `old` to `new` layers, recording what changed.
fn apply(group: &'static Group, old: &Layers, new: &Layers, report: &mut Report) {
    let (before, _) = old.effective(group.spec());
    let (after, _) = new.effective(group.spec());
    report.changes.extend(group.reconfigure(&before, &after));
}
