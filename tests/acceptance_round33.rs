//! Acceptance round 33 (facade): the README's "Fitting the stack" — a tower
//! bulkhead and a stream over a `#[pooled::group]`, sharing its limit with
//! the group's `#[pooled]` functions, counted from outside.
#![cfg(all(feature = "tower", feature = "stream"))]

use futures::StreamExt;
use pooled::tower::{BoxError, PooledLayer};
use pooled::{PooledStreamExt, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{service_fn, Layer, ServiceExt};

#[derive(Default)]
struct Meter {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Meter {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The bulkhead shared by a layer, a stream and a function.
#[pooled::group(size = 3)]
pub struct Backend;

#[pooled::pooled(group = Backend)]
async fn direct(meter: Arc<Meter>) {
    meter.enter();
    tokio::time::sleep(Duration::from_millis(2)).await;
    meter.leave();
}

/// README "Fitting the stack": a layer over a group, a stream through it and
/// the group's own functions share one limit ("<= 8 at once"; here 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_a_stream_and_the_groups_functions_share_its_limit() {
    let meter = Arc::new(Meter::default());
    let m = meter.clone();
    let service = PooledLayer::group(Backend::POOL).layer(service_fn(move |n: u32| {
        let m = m.clone();
        async move {
            m.enter();
            tokio::time::sleep(Duration::from_millis(2)).await;
            m.leave();
            Ok::<_, BoxError>(n)
        }
    }));
    let mut tasks = Vec::new();
    for n in 0..20u32 {
        tasks.push(tokio::spawn(service.clone().oneshot(n)));
    }
    let m = meter.clone();
    let streamed = tokio::spawn(async move {
        futures::stream::iter(0..20)
            .map(move |_| {
                let m = m.clone();
                async move {
                    m.enter();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    m.leave();
                }
            })
            .pooled_unordered(Backend::POOL)
            .filter(|r| futures::future::ready(r.is_ok()))
            .count()
            .await
    });
    let mut directs = Vec::new();
    for _ in 0..20 {
        directs.push(tokio::spawn(direct(meter.clone())));
    }
    for (n, t) in tasks.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("finished")
            .unwrap();
        assert_eq!(got.unwrap(), n as u32);
    }
    for d in directs {
        tokio::time::timeout(Duration::from_secs(60), d)
            .await
            .expect("finished")
            .unwrap();
    }
    assert_eq!(streamed.await.unwrap(), 20);
    let max = meter.max.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} at once in a group of 3");
    assert!(max >= 1);
}

/// A group of one slot behind a shedding layer.
#[pooled::group(size = 1)]
pub struct Shed;

/// README: "`.reject()` turns away at once instead of queueing" — a
/// `pooled::Rejected` inside the `BoxError`.
#[test]
fn a_shedding_layer_over_an_attribute_group_turns_away_at_once() {
    let service = PooledLayer::group(Shed::POOL)
        .reject()
        .layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    let held = Shed::POOL.try_acquire(0).unwrap();
    let error = futures::executor::block_on(service.clone().oneshot(())).unwrap_err();
    assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Full));
    assert_eq!(Shed::POOL.stats().waiting, 0);
    drop(held);
    futures::executor::block_on(service.oneshot(())).unwrap();
}
