//! The anchor that `pooled` replaces: the Python seed's design, a worker-queue
//! pool, built the way a Rust user would build it from tokio.
//!
//! `workers` worker tasks pull boxed futures from one shared (MPMC) channel
//! and run them one at a time; a submitter boxes its future, sends it, and
//! awaits the result through a `tokio::sync::oneshot`. This is what DESIGN.md §3
//! rules out (`'static + Send` work, a box and a channel hop per call, a pool
//! bound to the runtime its workers were spawned on); the benchmark shows what
//! it costs.

use std::future::Future;
use std::pin::Pin;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A pool of worker tasks fed through a channel (the seed's `AioFixedTaskPoolSimple`).
#[derive(Debug)]
pub struct WorkerQueuePool {
    jobs: async_channel::Sender<Job>,
    /// Keeps the queue open even with no workers (case 6 queues calls in one).
    _queue: async_channel::Receiver<Job>,
    workers: Vec<JoinHandle<()>>,
}

/// A cheap handle for submitting to a [`WorkerQueuePool`].
#[derive(Debug, Clone)]
pub struct Submitter {
    jobs: async_channel::Sender<Job>,
}

impl WorkerQueuePool {
    /// Spawns `workers` worker tasks on the current tokio runtime. The queue
    /// is unbounded, like the seed's default `asyncio.Queue`.
    pub fn start(workers: usize) -> WorkerQueuePool {
        let (jobs, queue) = async_channel::unbounded::<Job>();
        let workers = (0..workers)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move {
                    while let Ok(job) = queue.recv().await {
                        job.await;
                    }
                })
            })
            .collect();
        WorkerQueuePool {
            jobs,
            _queue: queue,
            workers,
        }
    }

    /// A handle to submit work with.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            jobs: self.jobs.clone(),
        }
    }

    /// Closes the queue and waits for the workers to finish what was queued.
    pub async fn close(self) {
        self.jobs.close();
        for worker in self.workers {
            worker.await.expect("a worker panicked");
        }
    }
}

impl Submitter {
    /// Runs `work` on a worker and returns its output.
    ///
    /// # Panics
    ///
    /// If the pool was closed, or `work` panicked on its worker.
    pub async fn submit<F>(&self, work: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::pin(async move {
            // The submitter may have stopped waiting; the work still ran.
            let _ = reply.send(work.await);
        });
        self.jobs.send(job).await.expect("the pool is open");
        result.await.expect("the worker finished the job")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn at_most_workers_jobs_run_at_once_and_every_result_comes_back() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pool = WorkerQueuePool::start(2);
            let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let calls: Vec<_> = (0..10)
                .map(|i| {
                    let submitter = pool.submitter();
                    let (running, peak) = (running.clone(), peak.clone());
                    tokio::spawn(async move {
                        submitter
                            .submit(async move {
                                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                                peak.fetch_max(now, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                running.fetch_sub(1, Ordering::SeqCst);
                                i * 2
                            })
                            .await
                    })
                })
                .collect();
            let mut results = Vec::new();
            for call in calls {
                results.push(call.await.unwrap());
            }
            pool.close().await;
            assert_eq!(results, (0..10).map(|i| i * 2).collect::<Vec<_>>());
            assert_eq!(peak.load(Ordering::SeqCst), 2);
        });
    }
}
