//! Fleet-wide limits: one group limit shared by every process of an
//! application, held as leases in Redis (feature `redis`).
//!
//! A group with a `fleet_limit` (and a `fleet_url`) runs a call only while it
//! holds both its local slot and a fleet lease. The call takes its local slot
//! first — the group's order (FIFO, LIFO, priority) still decides who goes
//! next inside the process — then waits for a lease; both are released
//! together when the call ends, however it ends (completion, error, panic,
//! the caller dropping it). A call waiting for its lease holds its local slot
//! meanwhile, and counts as running in the group's [`Stats`](crate::Stats).
//!
//! ```toml
//! [groups.billing]
//! size = 8                       # per process
//! fleet_limit = 20               # across every process
//! fleet_url = "redis://10.0.0.5:6379"
//! fleet_lease = "10s"
//! fleet_unreachable = "wait"     # or "reject", "local"
//! ```
//!
//! # What is guaranteed, and what is not
//!
//! * **Clock.** Leases are timed by the Redis server's clock (`TIME` inside
//!   the scripts), never a client's: a client's clock skew cannot steal or
//!   stretch a lease.
//! * **Expiry and renewal.** A lease lasts `fleet_lease` (default 10 s) and
//!   is renewed every third of that in the background. A holder that dies
//!   (`kill -9`, a lost machine) stops renewing: its leases expire and the
//!   next acquire anywhere removes them (tested: reclaimed and the waiters
//!   running within lease + 1 s). A renewal never re-creates a lease that
#![cfg_attr(
    feature = "redis",
    doc = "   expired or vanished: the holder's [`Lease::is_lost`] turns true, the"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "   expired or vanished: the holder's `Lease::is_lost` turns true, the"
)]
#![cfg_attr(
    feature = "redis",
    doc = "   loss is counted ([`FleetStats::lost`]) and logged, and a rejecting async"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "   loss is counted (`FleetStats::lost`) and logged, and a rejecting async"
)]
//!   call ends with [`Rejected::LeaseLost`](crate::Rejected::LeaseLost) (its
//!   work is not polled again). Sync work cannot be stopped: it finishes, and
//!   the loss is counted.
//! * **A paused holder over-admits.** A process stopped (`SIGSTOP`, a long
//!   GC-like stall, a VM freeze) past its lease loses it while it cannot
//!   know: the fleet hands the slot to another process, and when the stopped
//!   process resumes, its call is still "running" until its renewal (due at
//!   once) reports the loss and the call is ended. In that window the fleet
//!   runs up to one extra call per lease lost. The test
//!   (`tests/fleet.rs`, `sigstop_past_the_lease_loses_it_for_good`: limit 1,
//!   lease 1 s, holder stopped ~1.1 s and more) measures it from outside:
//!   2 calls counted as running at once, one over the limit, until the
//!   resumed holder's call ended with `LeaseLost`. Use the fencing token
//!   where this matters.
//! * **A Redis that restarts empty over-admits too.** A server restarted
//!   without its data (no persistence; or a `FLUSHALL`, or a failover to a
//!   replica that had not received the leases) forgets every lease: it grants
//!   the limit again at once, while each holder learns of the loss only at
//!   its next renewal (a third of a lease at most), which ends a rejecting
//!   async call as above. In that window the fleet runs up to twice its
//!   limit (measured by `a_redis_restart_does_not_admit_a_second_holder_beside_an_unaware_one`
//!   in `pool-runtime/tests/adversarial_round18.rs`: limit 1, a holder
//!   unaware of the loss beside the new one). Persistence (AOF with
//!   `appendfsync always`) keeps the leases through a restart; fencing
//!   tokens keep growing across it either way.
//! * **Fencing tokens.** Every lease carries a token larger than every
#![cfg_attr(
    feature = "redis",
    doc = "   earlier lease's of the group ([`Lease::token`], or [`token()`] inside a"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "   earlier lease's of the group (`Lease::token`, or `token()` inside a"
)]
//!   call's work). Pass it to the protected resource and have it refuse
//!   tokens lower than the highest it has seen: a resumed stale holder is
//!   then refused there. Tokens are `INCR`ed and raised to the server's time
//!   in microseconds, so they keep growing after the keys are deleted or a
//!   Redis that kept no data restarts (as long as its clock does not go back).
//! * **One limit.** The limit is stored in Redis by the first process that
//!   needs it (while any lease is held or call waits; a stored value that is
//!   not a whole number from 1 to [`MAX_SLOTS`](crate::MAX_SLOTS), written
//!   by another client, is replaced as a missing one is); a process configured
//!   with another limit follows the stored one and reports the disagreement
#![cfg_attr(
    feature = "redis",
    doc = "   ([`FleetStats::limit_mismatches`], a warning through `log`/`tracing`)."
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "   (`FleetStats::limit_mismatches`, a warning through `log`/`tracing`)."
)]
//! * **Fairness.** Calls waiting for a lease queue in Redis in the order they
//!   first asked (an arrival ticket); a free slot goes to the head of that
//!   queue, across processes. A waiter that stops asking (its process died)
//!   leaves the queue after one lease. A release is announced on a pub/sub
//!   channel, waking the waiters of every process; a waiter also asks again
//!   at the nearest lease expiry and at least every third of a lease (with
//!   jitter), so a lost message costs it at most that. Each release costs
//!   one script call per waiting call in the fleet; waiters within a process
//!   are at most its local limit.
//! * **Redis unreachable.** A command not answered within a quarter of the
//!   lease (at most 1 s) counts as unreachable, and `fleet_unreachable`
//!   decides: `wait` retries (backing off up to 1 s) until Redis answers,
//!   still holding the local slot (an admission timeout does not cover this
//!   wait; the caller may drop the call); `reject` turns the call away with
//!   [`Rejected::FleetUnavailable`](crate::Rejected::FleetUnavailable) (a
//!   never-rejecting call waits instead); `local` runs it under the local
#![cfg_attr(
    feature = "redis",
    doc = "   limit alone, counted in [`FleetStats::local_fallbacks`]. Leases held"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "   limit alone, counted in `FleetStats::local_fallbacks`. Leases held"
)]
//!   while Redis is away keep being renewed once it is back within their
//!   length; a holder that gets no renewal answered for nine tenths of a
//!   lease (Redis away, paused, or this process cut off from it) counts the
//!   lease lost then, as a renewal finding it expired would — so a holder
//!   cut off from Redis stops before the fleet can give its slot to another
//!   process: its call has the last tenth of the lease to be woken and
//!   dropped (an async call's work is not polled again; sync work, which
//!   cannot be stopped, may run on). That time is measured on the holder's
//!   monotonic clock from when it sent the last grant or renewal Redis
//!   answered, before Redis ran it: it can end a lease early, never stretch
//!   it. A Redis that lost its
//!   data (restart without persistence) makes every holder's next renewal
//!   report a loss. Scripts are re-sent after `NOSCRIPT`.
//! * **Keys and cleanup.** All keys of group `NAME` share the hash tag
//!   `{pooled:NAME}` (one cluster slot): `holders`, `queue`, `alive`,
//!   `limit`, `fence`, `ticket`, `granted`, and the channel
//!   `{pooled:NAME}:released`. `granted` (each lease's waiter) makes an
//!   acquire idempotent: a grant whose answer was lost (Redis stalled past
//!   the client's patience, a connection cut after the script ran) goes to
//!   the same call when it asks again, or is released when the call gives
//!   up, instead of holding a slot nobody has until it expires.
//!   The last release with nobody waiting deletes them; every write sets
//!   them to expire after three leases, so a fleet whose processes all died
//!   leaves nothing behind.
//! * **Sync calls** (`Group::run`, `run_wait`) take a lease free now at
//!   once (one round trip) and otherwise park their thread for it as they
//!   would for a local slot: on a multi-thread runtime's worker after handing
//!   its other tasks to another thread (`block_in_place`), so a lease held by
//!   one of them is given back; on the thread driving a current-thread
//!   runtime they panic naming the fixes instead of deadlocking (the holder
//!   may be a task of that runtime, its lease renewed in the background
//!   forever). All of the fleet's Redis traffic, renewals and wake-ups run on
//!   a background thread of their own (`pooled-fleet`), so fleet groups work
//!   from any runtime or none, like every group. A sync call made on that
//!   thread itself (by a waker, a `Drop` or a hook the fleet runs there)
//!   cannot wait for a round trip only that thread makes: there Redis counts
//!   as unreachable (the policy decides: `local` runs it under the local
//!   limit, otherwise [`Rejected::FleetUnavailable`](crate::Rejected); a
//!   call that is never turned away, `run_wait`, runs under the local limit
//!   alone there).
//!
//! * **Every call path.** Each way of running work in a fleet group holds a
//!   lease, taken after its local slot and released with it, however it
//!   ends:
//!   - `submit`, `submit_wait`, `submit_judged` (so `#[pooled]` async
//!     functions, with or without `overload = ...`, and adaptive groups),
#![cfg_attr(
    feature = "stream",
    doc = "     the [`stream`](crate::PooledStreamExt) adapters over a group: the"
)]
#![cfg_attr(
    not(feature = "stream"),
    doc = "     the `stream` adapters over a group: the"
)]
//!     lease is taken when the call's work is first polled, inside its local
//!     slot, and released when the work ends or is dropped. A call judged
//!     for an adaptive group whose lease was lost or never came (Redis
//!     unreachable) is judged `Ignore`; its wait for the lease is part of its
//!     latency sample.
//!   - `run`, `run_weighted`, `run_wait`: the calling thread parks for the
//!     lease inside its local slot (see **Sync calls** above).
//!   - `submit_blocking`, `submit_blocking_wait` (`#[pooled(blocking)]`):
//!     the caller's future waits for the lease once it holds its local slot
//!     (dropping it then leaves the fleet's queue), and the lease moves with
//!     the closure to the executor's thread: it is held while the closure
//!     runs and released when it returns or panics, even if the caller
//!     stopped waiting. The closure cannot be stopped when its lease is
//!     lost: the loss is counted.
//!   - Permits (`Group::acquire`, `acquire_owned`, and so the tower layer
//!     over a group): the permit waits for a lease once it holds its local
//!     slot and holds it until dropped (see `Permit::lease`; a lost lease
//!     cannot stop a permit's holder, it can check `is_lost`).
//!     `try_acquire` and `try_acquire_owned` (and the tower layer's
//!     rejecting mode) never wait for a lease: one Redis round trip, granted
//!     only if a lease is free now and no call of the fleet waits for one,
//!     otherwise [`Rejected::Full`](crate::Rejected::Full) (counted in
#![cfg_attr(
    feature = "redis",
    doc = "     [`FleetStats::busy`]); with Redis unreachable,"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "     `FleetStats::busy`); with Redis unreachable,"
)]
//!     [`Rejected::FleetUnavailable`](crate::Rejected::FleetUnavailable)
//!     under `wait` and `reject`, the local slot alone under `local`.
//!
//!   Calls on a [`Pool`](crate::Pool) directly (`Group::pool().submit(..)`)
//!   are not the group's calls and take no lease.
//!
//! * **Nested calls share their parent's lease.** A call of a fleet group
//!   made from inside the work of a call of the same fleet, on the thread
//!   running that work (an awaited or joined call, a sync call, a permit, a
//!   blocking call's closure on its executor thread and the calls inside
//!   it), runs under its parent's lease and never asks for one: the fleet
//!   counts top-level calls, as the application-wide ceiling does. So a call
//!   that calls its own group cannot deadlock the fleet (with every lease
//!   held by a parent waiting for its nested call's lease), and a nested
//!   call sees its parent's fencing token. A nested call that got a local
//!   slot of its own (its parent's was lent to another nested call) runs
//!   alongside its siblings under the one lease: the fleet may then run
//!   more work than its limit counts, as many as a call's nested calls run
//!   at once. A nested call that outlives its parent (a future returned out
//!   of the work, a blocking job whose caller went away, a permit kept)
//!   keeps the parent's lease held, renewed, until it ends, as it keeps the
//!   parent's local slot busy: the parent's call ends, its lease is released
//!   when the last call sharing it ends. Tested:
//!   `nested_calls_share_their_parents_lease_and_never_wait_for_it` (limit
//!   1, every path, 10 s bound; it hangs without the rule) and, in
//!   `tests/adversarial_fleet.rs`, `a_nested_call_that_outlives_its_parent_keeps_the_lease`.
//!   "The same fleet" is one `Group` (and its instances isolated for a
//!   test, feature `test-util`): two `Group` statics that name one fleet (the same group
//!   name and Redis) share its leases and limit, but a call of one made in
//!   the work of a call of the other is not nested in it, and asks for a
//!   lease of its own: with every lease held by such parents (a fleet
//!   limit of 1 and one parent), it waits for good. Call one group from
//!   itself, or give the two different names.
//!
#![cfg_attr(
    feature = "redis",
    doc = " * **Observability.** [`FleetStats`] in every build; with feature"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = " * **Observability.** `FleetStats` in every build; with feature"
)]
//!   `metrics`, the `pooled.fleet.*` series (held, waiting, limit, lost,
//!   reclaimed, Redis errors, local fallbacks), and with feature `tracing`
//!   events for a lost lease, a limit mismatch, Redis unreachable and
//!   back, and settings refused at first use, on the pools' own target: see
#![cfg_attr(
    any(feature = "tracing", feature = "metrics"),
    doc = "   [`observe`](crate::observe)."
)]
#![cfg_attr(
    not(any(feature = "tracing", feature = "metrics")),
    doc = "   `observe`."
)]
//!
//! Settings take effect at a group's first use (its pool's start); a reload
//! does not change a running group's fleet settings: its report lists each
//! change as [`Effect::AtRestart`](crate::config::Effect::AtRestart), and
//! [`Group::settings`](crate::Group::settings) keeps those the fleet runs
//! with.
//!
//! # Settings that fail their check
//!
//! A fleet limit of 0 or above [`MAX_SLOTS`](crate::MAX_SLOTS), without a
//! `redis://` or `unix://` URL, with a lease outside 100 ms to 24 h, or in
//! a build without the `redis` feature, is refused where it is written,
//! before anything runs with it:
//!
//! * `#[pooled(...)]` / `#[pooled::group(...)]`: a compile error on the key;
//! * [`GroupSettings::check`](crate::GroupSettings::check) and the builder:
//!   a [`BuildError`](crate::BuildError);
//! * a configuration file or `POOLED_*` variable: a load (or reload) error
//!   naming the file, line and column, or the variable; the load changes
//!   nothing. This holds even when the group's declaration carries an error
//!   of its own (which configuration does not report, see below).
//!
//! `fleet_url`, `fleet_lease` and `fleet_unreachable` configure a fleet
//! limit and nothing else: given where a group has no limit (from any
//! layer), they are refused by the attribute and by a configuration load (at
//! the key in a group's table, or the variable), by one rule. A `[defaults]`
//! table's are for the groups that have a limit, so they are no error for
//! the others; a hand-written declaration with a URL and no limit has no
//! fleet, and nothing to warn about.
//!
//! The one place with no caller to return an error to is a hand-written
//! declaration (a [`GroupSpec`](crate::GroupSpec) built in a `static`:
//! `Group::new` is a `const fn` and cannot fail) that no configuration
//! corrects. Such a group does not refuse its calls — turning a typo in a
//! URL into an outage would be worse than the local limit it still has —
//! but it does not run silently either: at its first use it starts without
#![cfg_attr(
    feature = "redis",
    doc = " a fleet ([`Group::fleet`](crate::Group::fleet) is `None`) and warns once,"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = " a fleet (`Group::fleet` is `None`) and warns once,"
)]
//! through `log` (target `pooled::fleet`; on stderr when no `log` logger is
//! installed, as configuration errors at a first use are) and `tracing`
//! (event `fleet settings refused`, with `pool` and `error`). A start-up check gets the
//! error as a value: `GROUP.settings().check()`.

mod settings;

pub use settings::{FleetSettings, OnUnreachable};

pub(crate) use settings::intern;

#[cfg(feature = "redis")]
mod call;
#[cfg(feature = "redis")]
mod client;
#[cfg(feature = "redis")]
mod handle;
#[cfg(feature = "redis")]
mod lease;
#[cfg(feature = "redis")]
pub(crate) mod report;
#[cfg(feature = "redis")]
mod scripts;
#[cfg(feature = "redis")]
mod stats;
#[cfg(feature = "redis")]
mod waiter;

#[cfg(feature = "redis")]
pub use call::token;
#[cfg(all(feature = "redis", feature = "tower"))]
pub(crate) use call::with_parent;
#[cfg(feature = "redis")]
pub(crate) use call::{lease, run, run_leased, try_lease, Fleeted, Leased, Parent};
#[cfg(feature = "redis")]
pub use handle::{AcquireLease, Fleet};
#[cfg(feature = "redis")]
pub use lease::Lease;
#[cfg(feature = "redis")]
pub use stats::FleetStats;
