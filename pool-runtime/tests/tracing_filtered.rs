//! Feature `tracing`, with call spans filtered out (a subscriber at INFO):
//! a blocking job, on the executor's thread, has its caller's span as its
//! current span. (A process of its own: callsite interest is global, and
//! `tracing.rs` captures every level.)
#![cfg(feature = "tracing")]

use futures::executor::block_on;
use pool_runtime::{Group, GroupSpec, Pool};
use tracing::Instrument;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// What a blocking job sees: its thread, and the current span's id and name.
fn seen() -> (std::thread::ThreadId, Option<(u64, &'static str)>) {
    let span = tracing::Span::current();
    let id = span.id().map(|id| id.into_u64());
    let name = span.metadata().map(|meta| meta.name());
    (std::thread::current().id(), id.zip(name))
}

#[test]
fn a_blocking_job_sees_its_callers_span_as_current() {
    static GROUP: Group = Group::new(GroupSpec::new("filtered-group").size(1));
    let subscriber = tracing_subscriber::registry().with(LevelFilter::INFO);
    tracing::subscriber::with_default(subscriber, || {
        let pool = Pool::builder().name("db").size(1).build().unwrap();
        let request = tracing::info_span!("request");
        let caller = request.id().map(|id| id.into_u64());
        let (by_pool, by_group) = block_on(
            async {
                let by_pool = pool.submit_blocking(seen).await.unwrap();
                let by_group = GROUP.submit_blocking(0, seen).await.unwrap();
                (by_pool, by_group)
            }
            .instrument(request.clone()),
        );
        for (thread, current) in [by_pool, by_group] {
            assert_ne!(thread, std::thread::current().id(), "ran on another thread");
            assert_eq!(current, caller.zip(Some("request")));
        }
        // Outside the caller's span, the job has none.
        let (_, current) = block_on(pool.submit_blocking(seen)).unwrap();
        assert_eq!(current, None);
    });
}
