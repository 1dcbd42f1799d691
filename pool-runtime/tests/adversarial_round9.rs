//! Round 9 of the hostile suite: promises of the README and the rustdoc not
//! checked by earlier rounds, counted from outside the library where a limit
//! is concerned. Every test that could hang is bounded (`within`, or polled by
//! hand a fixed number of times).

mod common;

#[allow(unused_imports)]
use common::{assert_accounted, within, Meter, Task};
#[allow(unused_imports)]
use pool_runtime::{Pool, Rejected};
#[allow(unused_imports)]
use std::time::Duration;

#[allow(dead_code)]
fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

// ---- tower: a response body that holds its slot -----------------------------

#[cfg(feature = "tower")]
mod body {
    use super::*;
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, ServiceExt};

    type Nested = Pin<Box<dyn Future<Output = Result<&'static [u8], Rejected>> + Send>>;

    /// A streaming body whose one frame is made by a call of the pool its
    /// response holds a slot of (a handler's stream reading through the same
    /// bulkhead, a row at a time).
    struct CallsThePool {
        pool: &'static Pool,
        meter: Meter,
        call: Option<Nested>,
        done: bool,
    }

    impl Body for CallsThePool {
        type Data = &'static [u8];
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            if self.done {
                return Poll::Ready(None);
            }
            let (pool, meter) = (self.pool, self.meter.clone());
            let call = self.call.get_or_insert_with(|| {
                Box::pin(pool.submit(async move {
                    let _inside = meter.enter();
                    &b"row"[..]
                }))
            });
            let row = std::task::ready!(call.as_mut().poll(cx));
            self.call = None;
            self.done = true;
            Poll::Ready(Some(row.map(Frame::data).map_err(Into::into)))
        }

        fn is_end_stream(&self) -> bool {
            self.done
        }
    }

    /// The body's frames are the work of the call that holds the slot: a call
    /// of the same pool made while the body makes a frame is a nested call
    /// (the reentrancy rule) and runs under the body's slot, where waiting
    /// for a second slot of a full pool would never end.
    #[test]
    fn a_body_that_calls_its_own_pool_does_not_deadlock_a_full_pool() {
        let pool: &'static Pool = Box::leak(Box::new(fixed(1)));
        let meter = Meter::default();
        let service = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(service_fn({
                let meter = meter.clone();
                move |()| {
                    let body = CallsThePool {
                        pool,
                        meter: meter.clone(),
                        call: None,
                        done: false,
                    };
                    async move { Ok::<_, BoxError>(http::Response::new(body)) }
                }
            }));
        let response = futures::executor::block_on(service.oneshot(())).unwrap();
        let mut body = response.into_body();
        assert!(body.holds_slot());
        assert_eq!(pool.stats().running, 1, "the body holds the only slot");

        let mut frame = Task::new(std::future::poll_fn(|cx| {
            Pin::new(&mut body).poll_frame(cx)
        }));
        let mut got = None;
        for _ in 0..4 {
            if let Poll::Ready(out) = frame.poll() {
                got = Some(out);
                break;
            }
        }
        let got = got.expect("the body's call of its own pool waited for a second slot");
        let data = got.unwrap().unwrap().into_data().ok().unwrap();
        assert_eq!(data, b"row");
        drop(frame);
        assert!(!body.holds_slot(), "released with the last frame");
        assert_eq!(meter.max(), 1);
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.nested, stats.waiting),
            (0, 0, 0),
            "{stats:?}"
        );
        assert_eq!(
            stats.completed, 2,
            "the response's call and the nested one: {stats:?}"
        );
        assert_accounted(&stats);
    }
}
