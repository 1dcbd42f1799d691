//! Weights through the attribute: functions of one priority group rank by their
//! constant weights, `#[weight]` and `weight = <expr>` rank calls of one function,
//! and equal weights keep arrival order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pooled::Group;
use tokio::sync::Notify;

const BOUND: Duration = Duration::from_secs(20);

/// Polls `condition` until it holds (the test's outer timeout bounds it).
async fn until(condition: impl Fn() -> bool) {
    while !condition() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Spawns `call` and returns once it is queued in `group` (its waiting count grew).
async fn queue<F>(group: &'static Group, call: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let waiting = group.stats().waiting;
    let handle = tokio::spawn(call);
    until(|| group.stats().waiting == waiting + 1).await;
    handle
}

#[pooled::group(order = "priority", size = 1)]
struct Ranked;

static RANKED_LOG: Mutex<Vec<&str>> = Mutex::new(Vec::new());

#[pooled::pooled(group = Ranked, weight = -100)]
async fn hold(gate: Arc<Notify>) {
    gate.notified().await;
}

#[pooled::pooled(group = Ranked, weight = 0)]
async fn urgent(label: &'static str) {
    RANKED_LOG.lock().unwrap().push(label);
}

#[pooled::pooled(group = Ranked, weight = 10)]
async fn normal(label: &'static str) {
    RANKED_LOG.lock().unwrap().push(label);
}

#[pooled::pooled(group = Ranked, weight = 100)]
async fn batch(label: &'static str) {
    RANKED_LOG.lock().unwrap().push(label);
}

#[tokio::test]
async fn functions_sharing_a_group_run_by_their_constant_weights() {
    let test = async {
        let gate = Arc::new(Notify::new());
        let holder = tokio::spawn(hold(gate.clone()));
        until(|| Ranked::POOL.stats().running == 1).await;
        let queued = vec![
            queue(Ranked::POOL, batch("batch-1")).await,
            queue(Ranked::POOL, normal("normal-1")).await,
            queue(Ranked::POOL, batch("batch-2")).await,
            queue(Ranked::POOL, urgent("urgent-1")).await,
            queue(Ranked::POOL, normal("normal-2")).await,
            queue(Ranked::POOL, urgent("urgent-2")).await,
        ];
        gate.notify_one();
        holder.await.unwrap();
        for call in queued {
            call.await.unwrap();
        }
    };
    tokio::time::timeout(BOUND, test)
        .await
        .expect("no call is stuck");
    assert_eq!(
        *RANKED_LOG.lock().unwrap(),
        ["urgent-1", "urgent-2", "normal-1", "normal-2", "batch-1", "batch-2"],
        "smaller weights first, arrival order among equal weights"
    );
}

static PARAM_LOG: Mutex<Vec<(i32, &str)>> = Mutex::new(Vec::new());

#[pooled::pooled(order = "priority", size = 1)]
async fn by_param(#[weight] urgency: i32, label: &'static str, gate: Option<Arc<Notify>>) {
    if let Some(gate) = gate {
        gate.notified().await;
    }
    PARAM_LOG.lock().unwrap().push((urgency, label));
}

#[tokio::test]
async fn a_weight_parameter_orders_calls_of_one_function() {
    let test = async {
        let gate = Arc::new(Notify::new());
        let holder = tokio::spawn(by_param(i32::MIN, "holder", Some(gate.clone())));
        until(|| BY_PARAM_POOL.stats().running == 1).await;
        let mut queued = Vec::new();
        for (urgency, label) in [(5, "e"), (-3, "a"), (3, "c"), (5, "f"), (0, "b"), (4, "d")] {
            queued.push(queue(BY_PARAM_POOL, by_param(urgency, label, None)).await);
        }
        gate.notify_one();
        holder.await.unwrap();
        for call in queued {
            call.await.unwrap();
        }
    };
    tokio::time::timeout(BOUND, test)
        .await
        .expect("no call is stuck");
    let labels: Vec<&str> = PARAM_LOG
        .lock()
        .unwrap()
        .iter()
        .map(|(_, label)| *label)
        .collect();
    assert_eq!(labels, ["holder", "a", "b", "c", "d", "e", "f"]);
}

static EXPR_LOG: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Longer jobs later: the weight is computed from the arguments on each call.
#[pooled::pooled(order = "priority", size = 1, weight = i64::try_from(job.len()).unwrap_or(i64::MAX))]
async fn by_expression(job: Vec<u8>, gate: Option<Arc<Notify>>) {
    if let Some(gate) = gate {
        gate.notified().await;
    }
    EXPR_LOG.lock().unwrap().push(job.len());
}

#[tokio::test]
async fn a_weight_expression_over_the_arguments_orders_calls() {
    let test = async {
        let gate = Arc::new(Notify::new());
        let holder = tokio::spawn(by_expression(Vec::new(), Some(gate.clone())));
        until(|| BY_EXPRESSION_POOL.stats().running == 1).await;
        let mut queued = Vec::new();
        for len in [30, 10, 20] {
            queued.push(queue(BY_EXPRESSION_POOL, by_expression(vec![0; len], None)).await);
        }
        gate.notify_one();
        holder.await.unwrap();
        for call in queued {
            call.await.unwrap();
        }
    };
    tokio::time::timeout(BOUND, test)
        .await
        .expect("no call is stuck");
    assert_eq!(*EXPR_LOG.lock().unwrap(), [0, 10, 20, 30]);
}

static SYNC_LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[pooled::pooled(order = "priority", size = 1)]
fn sync_by_param(#[weight] urgency: u8, gate: Option<std::sync::mpsc::Receiver<()>>) {
    if let Some(gate) = gate {
        gate.recv().unwrap();
    }
    SYNC_LOG.lock().unwrap().push(urgency);
}

#[test]
fn sync_callers_are_admitted_by_weight_too() {
    let (open, gate) = std::sync::mpsc::channel();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let holder = std::thread::spawn(move || sync_by_param(0, Some(gate)));
        while SYNC_BY_PARAM_POOL.stats().running == 0 {
            std::thread::yield_now();
        }
        let mut threads = Vec::new();
        for urgency in [9, 3, 7, 1] {
            let waiting = SYNC_BY_PARAM_POOL.stats().waiting;
            threads.push(std::thread::spawn(move || sync_by_param(urgency, None)));
            while SYNC_BY_PARAM_POOL.stats().waiting == waiting {
                std::thread::yield_now();
            }
        }
        open.send(()).unwrap();
        holder.join().unwrap();
        for thread in threads {
            thread.join().unwrap();
        }
        done.send(()).unwrap();
    });
    finished.recv_timeout(BOUND).expect("no call is stuck");
    assert_eq!(*SYNC_LOG.lock().unwrap(), [0, 1, 3, 7, 9]);
}
