//! A fleet: one group's connection to Redis, its scripts, its wake-ups and
//! its counters. All its I/O runs on one process-wide background runtime
//! (`pooled-fleet`, one thread), so a fleet serves every caller alike —
//! any tokio runtime, `block_on`, a plain thread — and outlives the
//! runtime of the test or the request that first used it.

use super::scripts::Scripts;
use super::settings::{FleetSettings, OnUnreachable};
use super::stats::{Counters, FleetStats};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

thread_local! {
    /// Whether this thread is one of the fleet runtime's.
    static FLEET_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is the fleet runtime's (a waker, a `Drop` or
/// a hook the fleet runs there): it cannot wait for a round trip to Redis,
/// which only that thread makes.
pub(crate) fn on_fleet_thread() -> bool {
    FLEET_THREAD.try_with(std::cell::Cell::get).unwrap_or(false)
}

/// The runtime every fleet's I/O, renewals and wake-ups run on.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(|| FLEET_THREAD.with(|fleet| fleet.set(true)))
            .thread_name("pooled-fleet")
            .enable_all()
            .build()
            .expect("the fleet's runtime starts (one thread, tokio's I/O and time drivers)")
    })
}

/// What the acquire script answered.
pub(crate) enum Grant {
    /// A lease, with its fencing token.
    Granted(u64),
    /// Queued: ask again within this long (the nearest lease expiry).
    Wait(Duration),
}

/// One group's fleet: shared by its calls and their leases.
pub(crate) struct FleetInner {
    pub(crate) name: String,
    pub(crate) limit: usize,
    pub(crate) lease: Duration,
    pub(crate) unreachable: OnUnreachable,
    keys: [String; 7],
    channel: String,
    scripts: Scripts,
    /// `None`: the URL could not be parsed; every call finds Redis
    /// unreachable (and the policy decides).
    connection: Option<ConnectionManager>,
    /// Woken by the subscription on every release in the fleet.
    pub(crate) wake: Notify,
    /// Releases sent in the background and not yet answered (or given up):
    /// what [`Fleet::flush`](super::Fleet::flush) waits for.
    pub(crate) releasing: std::sync::atomic::AtomicUsize,
    /// Woken when `releasing` falls to 0.
    pub(crate) released_all: Notify,
    pub(crate) counters: Counters,
    /// Whether the last command answered: the first failure after an
    /// answer, and the first answer after a failure, are reported.
    reachable: AtomicBool,
}

impl FleetInner {
    /// Starts the fleet of group `name`: its (lazy) connection and its
    /// subscription to releases.
    pub(crate) fn start(name: &str, settings: &FleetSettings) -> Arc<FleetInner> {
        let tag = format!("{{pooled:{name}}}");
        let keys = [
            "holders", "queue", "alive", "limit", "fence", "ticket", "granted",
        ]
        .map(|key| format!("{tag}:{key}"));
        // Redis must answer within a quarter of a lease (at most 1 s), so a
        // renewal or a release is not stuck behind a hung server for long.
        let patience = (settings.lease / 4).min(Duration::from_secs(1));
        let url = settings.url.unwrap_or_default();
        let client = redis::Client::open(url);
        let connection = {
            let _runtime = runtime().enter();
            client.as_ref().ok().and_then(|client| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(patience))
                    .set_response_timeout(Some(patience))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_lazy_with_config(client.clone(), config).ok()
            })
        };
        let fleet = Arc::new(FleetInner {
            name: name.to_owned(),
            limit: settings.limit.unwrap_or(1),
            lease: settings.lease,
            unreachable: settings.unreachable,
            channel: format!("{tag}:released"),
            keys,
            scripts: Scripts::new(),
            connection,
            wake: Notify::new(),
            releasing: std::sync::atomic::AtomicUsize::new(0),
            released_all: Notify::new(),
            reachable: AtomicBool::new(true),
            counters: Counters::new(name, settings.limit.unwrap_or(1)),
        });
        if let Ok(client) = client {
            runtime().spawn(subscribe(Arc::downgrade(&fleet), client));
        }
        fleet
    }

    fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        self.connection.clone().ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "the fleet's Redis URL cannot be parsed",
            ))
        })
    }

    fn lease_ms(&self) -> u64 {
        self.lease.as_millis() as u64
    }

    /// How long the keys live without a write: a few leases, so the keys of
    /// a fleet whose processes all died go away on their own.
    fn idle_ms(&self) -> u64 {
        self.lease_ms() * 3
    }

    /// Counts a Redis error and passes it on.
    fn counted<T>(&self, result: redis::RedisResult<T>) -> redis::RedisResult<T> {
        match &result {
            Err(error) => {
                self.counters.redis_error();
                if self.reachable.swap(false, Ordering::Relaxed) {
                    super::report::unreachable(&self.name, error);
                }
            }
            Ok(_) => {
                if !self.reachable.load(Ordering::Relaxed)
                    && !self.reachable.swap(true, Ordering::Relaxed)
                {
                    super::report::reachable(&self.name);
                }
            }
        }
        result
    }

    /// One acquire attempt for waiter `id`; `queue`: join the fleet's queue
    /// if no lease is free for it (otherwise only a lease free now, with
    /// nobody waiting, is taken).
    pub(crate) async fn try_acquire(&self, id: &str, queue: bool) -> redis::RedisResult<Grant> {
        let mut connection = self.connection()?;
        let mut call = self.scripts.acquire.prepare_invoke();
        for key in &self.keys {
            call.key(key);
        }
        call.arg(self.limit)
            .arg(self.lease_ms())
            .arg(id)
            .arg(self.lease_ms())
            .arg(self.idle_ms())
            .arg(&self.channel)
            .arg(if queue { "0" } else { "1" });
        let (granted, value, limit, reclaimed): (i64, u64, u64, u64) =
            self.counted(call.invoke_async(&mut connection).await)?;
        let counters = &self.counters;
        counters.asked(reclaimed, limit);
        if limit != self.limit as u64 {
            // Another process set the limit first: the one in Redis governs
            // (every process agrees on it), and the disagreement is reported.
            if counters.limit_mismatches.fetch_add(1, Ordering::Relaxed) == 0 {
                super::report::mismatch(&self.name, self.limit, limit);
            }
        }
        Ok(match granted {
            1 => Grant::Granted(value),
            _ => Grant::Wait(Duration::from_millis(value)),
        })
    }

    /// Renews lease `token`: `Ok(true)` if renewed, `Ok(false)` if lost.
    pub(crate) async fn renew(&self, token: u64) -> redis::RedisResult<bool> {
        let mut connection = self.connection()?;
        let renewed: i64 = self.counted(
            self.scripts
                .renew
                .key(&self.keys[..])
                .arg(token)
                .arg(self.lease_ms())
                .arg(self.idle_ms())
                .arg(&self.channel)
                .invoke_async(&mut connection)
                .await,
        )?;
        Ok(renewed == 1)
    }

    /// Releases lease `token`: `Ok(true)` if it was still held.
    pub(crate) async fn release(&self, token: u64) -> redis::RedisResult<bool> {
        let mut connection = self.connection()?;
        let removed: i64 = self.counted(
            self.scripts
                .release
                .key(&self.keys[..])
                .arg(token)
                .arg(&self.channel)
                .invoke_async(&mut connection)
                .await,
        )?;
        Ok(removed == 1)
    }

    /// Takes waiter `id` out of the queue.
    pub(crate) async fn cancel(&self, id: &str) -> redis::RedisResult<()> {
        let mut connection = self.connection()?;
        let _: i64 = self.counted(
            self.scripts
                .cancel
                .key(&self.keys[..])
                .arg(id)
                .arg(&self.channel)
                .invoke_async(&mut connection)
                .await,
        )?;
        Ok(())
    }

    pub(crate) fn stats(&self) -> FleetStats {
        self.counters.snapshot(self.limit)
    }
}

impl fmt::Debug for FleetInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .field("lease", &self.lease)
            .field("unreachable", &self.unreachable)
            .finish_non_exhaustive()
    }
}

/// Wakes the fleet's waiting calls on every release, for as long as the
/// fleet lives; reconnects (after a pause) when the subscription breaks. A
/// message lost meanwhile costs a waiter at most its bounded poll.
async fn subscribe(fleet: std::sync::Weak<FleetInner>, client: redis::Client) {
    use futures_core::Stream;
    let channel = match fleet.upgrade() {
        Some(fleet) => fleet.channel.clone(),
        None => return,
    };
    loop {
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            redis::RedisResult::Ok(pubsub)
        };
        let pubsub = tokio::time::timeout(Duration::from_secs(1), connected).await;
        if let Ok(Ok(pubsub)) = pubsub {
            let mut messages = std::pin::pin!(pubsub.into_on_message());
            // A missed message is made up for by a wake-up now.
            if let Some(fleet) = fleet.upgrade() {
                fleet.wake.notify_waiters();
            }
            while std::future::poll_fn(|cx| messages.as_mut().poll_next(cx))
                .await
                .is_some()
            {
                match fleet.upgrade() {
                    Some(fleet) => fleet.wake.notify_waiters(),
                    None => return,
                }
            }
        }
        if fleet.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
