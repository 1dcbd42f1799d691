//! Feature `stream`: streams of futures run through a pool
//! (`PooledStreamExt`), counted from outside the library.
#![cfg(feature = "stream")]

mod common;

use common::Task;
use futures::StreamExt;
use pool_runtime::{Group, GroupSpec, Order, Pool, PooledStreamExt, Rejected};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Counts what is inside it now, and the most there ever was.
#[derive(Default)]
struct Meter {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// One count of a [`Meter`], given back when dropped.
struct Inside(Arc<Meter>);

impl Meter {
    fn enter(self: &Arc<Self>) -> Inside {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Inside(self.clone())
    }

    fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `fut`, counted in `live` from now (when the stream makes it) until it is
/// dropped (finished, rejected or cancelled).
fn tracked<F: Future>(live: &Arc<Meter>, fut: F) -> impl Future<Output = F::Output> {
    let inside = live.enter();
    async move {
        let _inside = inside;
        fut.await
    }
}

/// Pending once (waking itself at once), then ready: calls that overlap
/// without a timer.
#[derive(Default)]
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_never_runs_more_than_the_pool_allows_while_others_use_it() {
    let pool = Pool::fixed(4);
    let running = Arc::new(Meter::default()); // every call's body, stream or not
    let streamed = Arc::new(Meter::default()); // the stream's bodies alone
    let body = |running: Arc<Meter>, own: Option<Arc<Meter>>, i: u64| async move {
        let _running = running.enter();
        let _own = own.as_ref().map(Meter::enter);
        tokio::time::sleep(Duration::from_micros(200 + (i * 7919) % 1500)).await;
        i
    };
    // Other callers of the same pool, at the same time.
    let others: Vec<_> = (0..3)
        .map(|caller| {
            let (pool, running) = (pool.clone(), running.clone());
            tokio::spawn(async move {
                for i in 0..40 {
                    let out = pool.submit(body(running.clone(), None, i)).await;
                    assert_eq!(out, Ok(i), "caller {caller}");
                }
            })
        })
        .collect();
    // The stream, on another task (the adapter is `Send`).
    let stream = tokio::spawn({
        let (pool, running, streamed) = (pool.clone(), running.clone(), streamed.clone());
        async move {
            let mut outs: Vec<u64> = futures::stream::iter(0..300)
                .map(|i| body(running.clone(), Some(streamed.clone()), i))
                .pooled_unordered(&pool)
                .map(|out| out.expect("the pool is open"))
                .collect()
                .await;
            outs.sort_unstable();
            outs
        }
    });
    for other in others {
        other.await.unwrap();
    }
    assert_eq!(stream.await.unwrap(), (0..300).collect::<Vec<_>>());
    assert!(running.peak() <= 4, "{} bodies ran at once", running.peak());
    assert!(
        streamed.peak() >= 2,
        "the stream ran its calls concurrently"
    );
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0));
    assert_eq!(stats.completed, 300 + 3 * 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_ordered_yields_in_input_order_though_calls_finish_out_of_order() {
    let pool = Pool::fixed(4);
    let running = Arc::new(Meter::default());
    let finished = Arc::new(Mutex::new(Vec::new()));
    let outs: Vec<usize> = futures::stream::iter(0..60)
        .map(|i| {
            let (running, finished) = (running.clone(), finished.clone());
            async move {
                let _running = running.enter();
                // The first of every four is the slowest.
                let ms = if i % 4 == 0 { 6 } else { 1 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                finished.lock().unwrap().push(i);
                i
            }
        })
        .pooled_ordered(&pool)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(outs, (0..60).collect::<Vec<_>>());
    let finished = finished.lock().unwrap().clone();
    assert_ne!(finished, outs, "calls finished out of order");
    assert!(running.peak() <= 4);
    assert!(running.peak() >= 2);
}

#[test]
fn a_long_stream_on_a_small_pool_holds_a_bounded_number_of_futures() {
    const ITEMS: usize = 100_000;
    let pool = Pool::fixed(4);
    let live = Arc::new(Meter::default());
    for ordered in [false, true] {
        let items = futures::stream::iter(0..ITEMS).map(|i| {
            tracked(&live, async move {
                YieldOnce::default().await;
                i
            })
        });
        let (count, sum) = futures::executor::block_on(async {
            let stream: Pin<Box<dyn futures::Stream<Item = Result<usize, Rejected>>>> = if ordered {
                Box::pin(items.pooled_ordered(&pool))
            } else {
                Box::pin(items.pooled_unordered(&pool))
            };
            stream
                .fold((0, 0), |(count, sum), out| async move {
                    (count + 1, sum + out.unwrap())
                })
                .await
        });
        assert_eq!((count, sum), (ITEMS, ITEMS * (ITEMS - 1) / 2));
        // Twice the pool's size: 4 running, 4 waiting their turn.
        assert!(live.peak() <= 8, "{} futures alive at once", live.peak());
        assert!(live.peak() >= 4, "the pool's slots were used");
        assert_eq!(live.now(), 0);
    }
    assert_eq!(pool.stats().completed, 2 * ITEMS as u64);
}

#[test]
fn calls_a_paused_or_closed_pool_turns_away_are_yielded_as_errors() {
    let pool = Pool::fixed(2);
    pool.pause();
    let outs: Vec<_> = futures::executor::block_on(
        futures::stream::iter(0..10)
            .map(|i| async move { i })
            .pooled_unordered(&pool)
            .collect(),
    );
    assert_eq!(outs, vec![Err(Rejected::Paused); 10]);
    assert_eq!(pool.stats().rejected_for(Rejected::Paused), 10);

    // Ordered too, and the stream goes on after a rejection.
    pool.resume();
    let items = futures::stream::iter(0..3).map(|i| async move { i });
    let mut outs = Task::new(items.pooled_ordered(&pool).collect::<Vec<_>>());
    pool.close();
    assert_eq!(outs.assert_ready(), vec![Err(Rejected::Closed); 3]);
}

#[test]
fn dropping_the_stream_midway_cancels_its_calls_and_releases_every_slot() {
    let pool = Pool::fixed(4);
    let live = Arc::new(Meter::default());
    // Every item but the first two never finishes.
    let items = futures::stream::iter(0..1_000).map(|i| {
        tracked(&live, async move {
            if i >= 2 {
                std::future::pending::<()>().await;
            }
            i
        })
    });
    let mut stream = Task::new(Box::pin(items.pooled_unordered(&pool)).into_future());
    let (first, rest) = stream.assert_ready();
    assert_eq!(first, Some(Ok(0)));
    let mut next = Task::new(rest.into_future());
    let (second, rest) = next.assert_ready();
    assert_eq!(second, Some(Ok(1)));
    let mut next = Task::new(rest.into_future());
    next.assert_pending();
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (4, 4), "2 x size held");
    assert_eq!(live.now(), 8);

    // Another caller waits behind the stream's calls.
    let mut other = Task::new(pool.submit(async { "other" }));
    other.assert_pending();
    drop(next);
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.waiting),
        (1, 0),
        "the other caller got a slot"
    );
    assert_eq!(stats.cancelled, 8);
    assert_eq!(live.now(), 0, "every future the stream started was dropped");
    assert!(other.is_woken());
    assert_eq!(other.assert_ready(), Ok("other"));
    assert_eq!(pool.stats().running, 0);
}

#[test]
fn the_bound_follows_the_pool_size() {
    let pool = Pool::fixed(2);
    let live = Arc::new(Meter::default());
    let items =
        futures::stream::iter(0..1_000).map(|_| tracked(&live, std::future::pending::<()>()));
    let mut stream = Task::new(Box::pin(items.pooled_unordered(&pool)).into_future());
    stream.assert_pending();
    assert_eq!(live.now(), 4);

    // Growing admits two waiting calls, which wakes the adapter; it then
    // pulls up to twice the new size.
    pool.resize(5);
    assert!(stream.is_woken());
    stream.assert_pending();
    assert_eq!(live.now(), 10);
    assert_eq!((pool.stats().running, pool.stats().waiting), (5, 5));

    // Shrinking interrupts nothing, and pulls nothing more.
    pool.resize(0);
    stream.assert_pending();
    assert_eq!(live.now(), 10);
    drop(stream);
    assert_eq!(live.now(), 0);

    // On a pool scaled to 0, one call waits, to be woken when it grows.
    let items = futures::stream::iter(0..3).map(|i| async move { i });
    let mut outs = Task::new(items.pooled_ordered(&pool).collect::<Vec<_>>());
    outs.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    pool.resize(1);
    assert!(outs.is_woken());
    assert_eq!(outs.assert_ready(), vec![Ok(0), Ok(1), Ok(2)]);
}

#[test]
fn weights_order_the_streams_calls_and_ordered_output_keeps_input_order() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let admitted = Arc::new(Mutex::new(Vec::new()));
    let items = futures::stream::iter([(3, 'c'), (1, 'a'), (2, 'b')]).map(|(weight, name)| {
        let admitted = admitted.clone();
        Weighted {
            weight,
            fut: Box::pin(async move {
                admitted.lock().unwrap().push(name);
                name
            }),
        }
    });
    let busy = pool.try_acquire().unwrap();
    let mut outs = Task::new(
        items
            .pooled_ordered_weighted(&pool, |item: &Weighted| item.weight)
            .limit(3)
            .collect::<Vec<_>>(),
    );
    outs.assert_pending();
    assert_eq!(
        pool.stats().waiting,
        2,
        "a pool of 1 holds 2 of the stream's items"
    );
    drop(busy);
    assert_eq!(outs.assert_ready(), vec![Ok('c'), Ok('a'), Ok('b')]);
    // 'c' and 'a' waited together: 'a' (weight 1) first; 'b' came later.
    assert_eq!(*admitted.lock().unwrap(), ['a', 'c', 'b']);
}

/// A future that carries its weight.
struct Weighted {
    weight: i64,
    fut: Pin<Box<dyn Future<Output = char>>>,
}

impl Future for Weighted {
    type Output = char;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<char> {
        self.fut.as_mut().poll(cx)
    }
}

#[test]
fn a_limit_caps_the_stream_below_the_pool() {
    let pool = Pool::fixed(8);
    let live = Arc::new(Meter::default());
    let items = futures::stream::iter(0..100).map(|_| tracked(&live, std::future::pending::<()>()));
    let mut stream = Task::new(Box::pin(items.pooled_unordered(&pool).limit(3)).into_future());
    stream.assert_pending();
    assert_eq!((live.now(), pool.stats().running), (3, 3));
    // A limit of 0 is 1.
    let items = futures::stream::iter(0..100).map(|_| std::future::pending::<()>());
    let mut one = Task::new(Box::pin(items.pooled_ordered(&pool).limit(0)).into_future());
    one.assert_pending();
    assert_eq!(pool.stats().running, 4);
}

static STREAMED: Group = Group::new(GroupSpec::new("tests::stream::STREAMED").size(2));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_group_bounds_a_stream_as_its_pool_does() {
    let running = Arc::new(Meter::default());
    let outs: Vec<_> = futures::stream::iter(0..50)
        .map(|i| {
            let running = running.clone();
            async move {
                let _running = running.enter();
                tokio::time::sleep(Duration::from_micros(300)).await;
                i
            }
        })
        .pooled_ordered(&STREAMED)
        .collect()
        .await;
    assert_eq!(outs, (0..50).map(Ok).collect::<Vec<_>>());
    assert!(running.peak() <= 2, "{} ran at once", running.peak());
    assert_eq!(running.peak(), 2);
    assert_eq!(STREAMED.stats().completed, 50);
}

#[test]
fn size_hint_and_termination() {
    use futures::stream::{FusedStream, Stream};
    let pool = Pool::fixed(2);
    let mut stream = futures::stream::iter(0..5)
        .map(|i| async move { i })
        .pooled_unordered(&pool);
    assert_eq!(stream.size_hint(), (5, Some(5)));
    assert!(!stream.is_terminated());
    let outs: Vec<_> = futures::executor::block_on((&mut stream).collect());
    assert_eq!(outs.len(), 5);
    assert!(stream.is_terminated());
    assert_eq!(stream.size_hint(), (0, Some(0)));
    assert_eq!(stream.in_flight(), 0);
}

#[test]
fn a_stream_inside_a_call_of_the_same_pool_runs_under_its_slot() {
    // A pool of 1 whose only slot the caller holds: the stream's calls are
    // nested calls (see the reentrancy rule) and take turns on that slot
    // instead of deadlocking.
    let pool = Pool::fixed(1);
    let running = Arc::new(Meter::default());
    let outs = futures::executor::block_on(pool.submit(async {
        futures::stream::iter(0..20)
            .map(|i| {
                let running = running.clone();
                async move {
                    let _running = running.enter();
                    YieldOnce::default().await;
                    i
                }
            })
            .pooled_unordered(&pool)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .await
    }))
    .unwrap();
    assert_eq!(outs.len(), 20);
    assert_eq!(running.peak(), 1);
    let stats = pool.stats();
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
    assert_eq!(stats.completed, 21);
}
