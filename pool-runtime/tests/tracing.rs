//! Feature `tracing`: the call span and its fields, the rejection, limit
//! change and adaptive window events, and a blocking job inside its caller's
//! span — seen by a capturing subscriber installed per test.
#![cfg(feature = "tracing")]

use futures::executor::block_on;
use pool_runtime::{
    AdaptiveSettings, Group, GroupSpec, Kind, ManualClock, Order, Pool, Rejected, ScalePolicy,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Instrument, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Field values as text.
type Fields = BTreeMap<String, String>;

#[derive(Clone, Debug)]
struct SpanSeen {
    id: u64,
    name: &'static str,
    parent: Option<u64>,
    fields: Fields,
}

#[derive(Clone, Debug)]
struct EventSeen {
    level: Level,
    target: String,
    fields: Fields,
    /// The span the event happened in (name, id).
    span: Option<(&'static str, u64)>,
}

#[derive(Default)]
struct Seen {
    spans: Vec<SpanSeen>,
    events: Vec<EventSeen>,
}

/// Records every span (with its fields, as recorded later too) and event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Seen>>);

struct Text<'a>(&'a mut Fields);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Text(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.id().into_u64());
        self.0.lock().unwrap().spans.push(SpanSeen {
            id: id.into_u64(),
            name: attrs.metadata().name(),
            parent,
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: LayerContext<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        if let Some(span) = seen.spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(&mut Text(&mut span.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Text(&mut fields));
        let span = ctx
            .event_span(event)
            .map(|s| (s.metadata().name(), s.id().into_u64()));
        self.0.lock().unwrap().events.push(EventSeen {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
            span,
        });
    }
}

impl Capture {
    /// Runs `f` with this capture as the thread's subscriber. (Every test
    /// here captures every level: callsite interest is global, and tests
    /// that filter differently, running in parallel, would race on it. The
    /// test with call spans filtered out has a process of its own,
    /// `tracing_filtered.rs`.)
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }

    fn spans(&self, name: &str) -> Vec<SpanSeen> {
        let seen = self.0.lock().unwrap();
        seen.spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    fn events(&self, message: &str) -> Vec<EventSeen> {
        let seen = self.0.lock().unwrap();
        let message = message.to_owned();
        seen.events
            .iter()
            .filter(|e| e.fields.get("message") == Some(&message))
            .cloned()
            .collect()
    }
}

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(String::as_str)
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_call_has_a_span_with_its_pool_form_weight_wait_and_outcome() {
    let capture = Capture::default();
    let clock = ManualClock::new();
    capture.run(|| {
        let pool = Pool::builder()
            .name("db")
            .order(Order::Priority)
            .size(1)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        // Admitted at once: waited 0.
        assert_eq!(block_on(pool.submit_weighted(7, async { 1 })), Ok(1));
        // Queued behind a permit for 5 ms of the pool's clock.
        let permit = pool.try_acquire().unwrap();
        let mut queued = pin!(pool.submit_weighted(-3, async { 2 }));
        assert!(poll_once(queued.as_mut()).is_pending());
        clock.advance(Duration::from_millis(5));
        drop(permit);
        assert_eq!(poll_once(queued.as_mut()), Poll::Ready(Ok(2)));
        assert_eq!(pool.run(|| 3), Ok(3));
    });
    let spans = capture.spans("call");
    let summary: Vec<_> = spans
        .iter()
        .map(|s| {
            let f = |name| field(&s.fields, name).unwrap_or("-").to_owned();
            [
                f("pool"),
                f("call"),
                f("weight"),
                f("wait_us"),
                f("outcome"),
            ]
        })
        .collect();
    assert_eq!(
        summary,
        [
            ["db", "submit", "7", "0", "completed"],
            ["db", "permit", "0", "0", "completed"],
            ["db", "submit", "-3", "5000", "completed"],
            ["db", "run", "0", "0", "completed"],
        ]
    );
}

#[test]
fn a_rejection_is_an_event_with_its_reason_inside_the_calls_span() {
    let capture = Capture::default();
    capture.run(|| {
        let pool = Pool::builder()
            .name("db")
            .size(1)
            .max_waiting(0)
            .build()
            .unwrap();
        pool.pause();
        assert_eq!(block_on(pool.submit(async {})), Err(Rejected::Paused));
        pool.resume();
        let permit = pool.try_acquire().unwrap();
        assert_eq!(block_on(pool.submit(async {})), Err(Rejected::Full));
        drop(permit);
        pool.close();
        assert_eq!(pool.run(|| ()), Err(Rejected::Closed));
    });
    let events = capture.events("call rejected");
    let reasons: Vec<_> = events
        .iter()
        .map(|e| field(&e.fields, "reason").unwrap())
        .collect();
    assert_eq!(reasons, ["paused", "full", "closed"]);
    for event in &events {
        assert_eq!(event.level, Level::DEBUG);
        assert_eq!(event.target, "pooled");
        assert_eq!(field(&event.fields, "pool"), Some("db"));
        let (span, id) = event.span.expect("inside the call's span");
        assert_eq!(span, "call");
        let call = capture
            .spans("call")
            .into_iter()
            .find(|s| s.id == id)
            .unwrap();
        assert_eq!(field(&call.fields, "outcome"), Some("rejected"));
    }
}

#[test]
fn a_limit_change_says_from_to_and_why() {
    let capture = Capture::default();
    let clock = ManualClock::new();
    capture.run(|| {
        let pool = Pool::builder().name("db").size(3).build().unwrap();
        assert_eq!(pool.scale(2), 5);
        assert_eq!(pool.resize(5), 5, "no change, no event");
        assert_eq!(pool.resize(1), 1);
        let auto = Pool::builder()
            .name("auto")
            .kind(Kind::Autoscale)
            .min(1)
            .max(8)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        assert_eq!(auto.set_bounds(2, 8), Ok(2));
        // The queue-depth rule: four calls wait for the whole interval.
        let permits: Vec<_> = (0..2).map(|_| auto.try_acquire().unwrap()).collect();
        let mut waiting: Vec<_> = (0..4).map(|_| Box::pin(auto.submit(async {}))).collect();
        for call in &mut waiting {
            assert!(poll_once(call.as_mut()).is_pending());
        }
        clock.advance(Duration::from_secs(10));
        drop(permits);
        for call in &mut waiting {
            assert_eq!(poll_once(call.as_mut()), Poll::Ready(Ok(())));
        }
    });
    let changes: Vec<_> = capture
        .events("limit changed")
        .iter()
        .map(|e| {
            let f = |name| field(&e.fields, name).unwrap().to_owned();
            (f("pool"), f("from"), f("to"), f("cause"), e.level)
        })
        .collect();
    let s = |v: &str| v.to_owned();
    assert_eq!(
        changes,
        [
            (s("db"), s("3"), s("5"), s("scale"), Level::INFO),
            (s("db"), s("5"), s("1"), s("resize"), Level::INFO),
            (s("auto"), s("1"), s("2"), s("bounds"), Level::INFO),
            (s("auto"), s("2"), s("4"), s("autoscale"), Level::INFO),
        ]
    );
}

#[test]
fn an_adaptive_window_reports_latency_floor_and_decision() {
    let capture = Capture::default();
    let clock = ManualClock::new();
    capture.run(|| {
        let pool = Pool::builder()
            .name("api")
            .kind(Kind::Autoscale)
            .min(1)
            .max(8)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        // Five calls of 20 ms each, back to back: one window of 100 ms (at
        // one slot a window of the start closes once it holds four rounds
        // of the limit, not ten calls, and spans `window_time`, 100 ms:
        // the fifth call). The last one (a permit) ends while
        // a call waits for its slot: the limit bound, so the start grows
        // it, by two slots at least (a window in which no call waited
        // would end the start instead).
        for _ in 0..4 {
            assert_eq!(
                pool.run(|| clock.advance(Duration::from_millis(20))),
                Ok(())
            );
        }
        let permit = pool.try_acquire().unwrap();
        let mut waiting = Box::pin(pool.submit(async {}));
        assert!(poll_once(waiting.as_mut()).is_pending());
        clock.advance(Duration::from_millis(20));
        drop(permit);
        assert_eq!(
            pool.size(),
            3,
            "the start grows the limit that bound: 1 -> 3"
        );
        assert_eq!(poll_once(waiting.as_mut()), Poll::Ready(Ok(())));
    });
    let windows = capture.events("adaptive window");
    assert_eq!(windows.len(), 1);
    let w = &windows[0].fields;
    assert_eq!(field(w, "pool"), Some("api"));
    let micros = |name| field(w, name).unwrap().parse::<u64>().unwrap();
    // 20 ms, through a logarithm and back.
    assert!((19_999..=20_001).contains(&micros("latency_us")), "{w:?}");
    assert!((19_999..=20_001).contains(&micros("floor_us")), "{w:?}");
    assert_eq!(field(w, "successes"), Some("5"));
    assert_eq!(field(w, "drops"), Some("0"));
    assert_eq!(field(w, "decision"), Some("slow_start"));
    let changes = capture.events("limit changed");
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!(c.level, Level::DEBUG, "adaptive changes are a level down");
    assert_eq!(
        (
            field(&c.fields, "from"),
            field(&c.fields, "to"),
            field(&c.fields, "cause")
        ),
        (Some("1"), Some("3"), Some("adaptive"))
    );
}

/// A blocking closure's view of the current span: (name, id, parent id).
fn current_span_seen(capture: &Capture) -> Option<(&'static str, u64, Option<u64>)> {
    let id = tracing::Span::current().id()?.into_u64();
    let span = capture
        .0
        .lock()
        .unwrap()
        .spans
        .iter()
        .find(|s| s.id == id)
        .cloned()?;
    Some((span.name, span.id, span.parent))
}

#[test]
fn a_blocking_job_runs_in_its_call_span_inside_its_callers_span() {
    static GROUP: Group = Group::new(GroupSpec::new("blocking-group").size(1));
    let capture = Capture::default();
    let (caller, thread, seen) = capture.run(|| {
        let pool = Pool::builder().name("db").size(1).build().unwrap();
        let request = tracing::info_span!("request");
        let caller = request.id().unwrap().into_u64();
        let (pool_probe, group_probe) = (capture.clone(), capture.clone());
        let (thread, seen) = block_on(
            async {
                let (thread, by_pool) = pool
                    .submit_blocking(move || {
                        (std::thread::current().id(), current_span_seen(&pool_probe))
                    })
                    .await
                    .unwrap();
                let by_group = GROUP
                    .submit_blocking(0, move || current_span_seen(&group_probe))
                    .await
                    .unwrap();
                (thread, [by_pool, by_group])
            }
            .instrument(request.clone()),
        );
        (caller, thread, seen)
    });
    assert_ne!(thread, std::thread::current().id(), "ran on another thread");
    for (seen, pool) in seen.into_iter().zip(["db", "blocking-group"]) {
        let (name, id, parent) = seen.expect("a current span");
        assert_eq!((name, parent), ("call", Some(caller)), "{pool}");
        let call = capture
            .spans("call")
            .into_iter()
            .find(|s| s.id == id)
            .unwrap();
        assert_eq!(field(&call.fields, "pool"), Some(pool));
        assert_eq!(field(&call.fields, "call"), Some("blocking"));
        assert_eq!(field(&call.fields, "outcome"), Some("completed"));
    }
}

#[test]
fn no_subscriber_no_span() {
    // Without a subscriber nothing is created; calls work as ever.
    let pool = Pool::builder().name("quiet").size(1).build().unwrap();
    assert_eq!(block_on(pool.submit(async { 5 })), Ok(5));
    assert_eq!(
        block_on(pool.submit_blocking(|| tracing::Span::current().is_none())),
        Ok(true)
    );
}

/// Feature `tower`: a response body held to its end is a latency sample of
/// an adaptive pool up to its last frame; one dropped or broken before its
/// end (a client that went away) is no sample at all — not a long one.
#[cfg(feature = "tower")]
#[test]
fn a_body_dropped_before_its_end_is_no_latency_sample() {
    use http_body::Body;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};

    let capture = Capture::default();
    let clock = ManualClock::new();
    capture.run(|| {
        let pool = Pool::builder()
            .name("bodies")
            .kind(Kind::Autoscale)
            .min(1)
            .max(8)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let mut service = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(service_fn(|()| async {
                Ok::<_, BoxError>(http::Response::new(String::from("streamed")))
            }));
        let mut respond = || {
            block_on(async { service.ready().await.unwrap().call(()).await.unwrap() }).into_body()
        };
        // A body read to its end 20 ms after its call was admitted.
        let finished = |mut body: pool_runtime::tower::PermitBody<String>| {
            clock.advance(Duration::from_millis(20));
            block_on(std::future::poll_fn(|cx| {
                std::pin::Pin::new(&mut body).poll_frame(cx)
            }))
            .unwrap()
            .unwrap();
            assert!(!body.holds_slot(), "released at its last frame");
        };
        // At one slot a window of the start closes on four samples (once
        // it spans 100 ms, which the dropped bodies' seconds see to): two
        // before the dropped bodies, two after.
        for _ in 0..2 {
            finished(respond());
        }
        // Five bodies dropped after a second, unread: the client went away.
        for _ in 0..5 {
            let body = respond();
            clock.advance(Duration::from_secs(1));
            drop(body);
        }
        for _ in 0..2 {
            finished(respond());
        }
        assert_eq!(pool.stats().running, 0);
    });
    let windows = capture.events("adaptive window");
    assert_eq!(windows.len(), 1, "four samples close a window at one slot");
    let w = &windows[0].fields;
    assert_eq!(field(w, "successes"), Some("4"), "{w:?}");
    let latency: u64 = field(w, "latency_us").unwrap().parse().unwrap();
    assert!(
        (19_999..=20_001).contains(&latency),
        "the dropped bodies' seconds are not in the window: {w:?}"
    );
}
