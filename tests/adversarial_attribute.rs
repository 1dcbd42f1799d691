//! The README's bulkhead, attacked: a `PooledLayer` over a declared group
//! whose handlers call `#[pooled]` functions of that same group. Each call
//! of a handler holds one of the group's slots through its response; its
//! calls of the group's functions are nested calls (the reentrancy rule),
//! so a full group cannot deadlock, and the group's limit holds for the
//! handlers and for the functions they call, counted from outside.
#![cfg(feature = "tower")]

use pooled::tower::{BoxError, PooledLayer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tower::{service_fn, Layer, ServiceExt};

/// The bulkhead: two slots, shared by the layer and `lookup`.
#[pooled::group(size = 2)]
pub struct Backend;

/// Bodies of `lookup` running now, and the most at once.
static LOOKUPS: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(0), AtomicUsize::new(0));
/// Handlers running now, and the most at once.
static HANDLERS: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(0), AtomicUsize::new(0));

struct Inside(&'static (AtomicUsize, AtomicUsize));

impl Inside {
    fn enter(meter: &'static (AtomicUsize, AtomicUsize)) -> Inside {
        let now = meter.0.fetch_add(1, Ordering::SeqCst) + 1;
        meter.1.fetch_max(now, Ordering::SeqCst);
        Inside(meter)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[pooled::pooled(group = Backend)]
async fn lookup(n: u32) -> Result<u32, pooled::Rejected> {
    let _inside = Inside::enter(&LOOKUPS);
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(n * 2)
}

/// Catches: the README's bulkhead deadlocking once every slot of the group
/// is held by a response whose handler calls a function of the group (each
/// waits for a second slot), or the nested calls running beside the
/// handlers past the group's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_behind_a_group_bulkhead_can_call_the_groups_functions() {
    let handler = service_fn(|n: u32| async move {
        let _inside = Inside::enter(&HANDLERS);
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, BoxError>(lookup(n).await?)
    });
    let service = PooledLayer::group(Backend::POOL).layer(handler);
    let calls: Vec<_> = (0..16)
        .map(|n| tokio::spawn(service.clone().oneshot(n)))
        .collect();
    let outcomes = tokio::time::timeout(Duration::from_secs(10), async {
        let mut out = Vec::new();
        for call in calls {
            out.push(call.await.unwrap().map_err(|e| e.to_string()));
        }
        out
    })
    .await
    .expect("deadlocked: handlers wait for slots their own responses hold");
    assert_eq!(outcomes, (0..16).map(|n| Ok(n * 2)).collect::<Vec<_>>());
    let peak = |meter: &(AtomicUsize, AtomicUsize)| meter.1.load(Ordering::SeqCst);
    assert!(peak(&HANDLERS) <= 2, "{} handlers at once", peak(&HANDLERS));
    assert!(peak(&LOOKUPS) <= 2, "{} lookups at once", peak(&LOOKUPS));
    let s = Backend::POOL.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    assert_eq!(
        s.completed, 32,
        "16 responses and their 16 nested lookups: {s:?}"
    );
}
