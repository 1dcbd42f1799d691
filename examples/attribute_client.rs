//! An async client throttled with `#[pooled]`.
//!
//! * `Client::urgent` and `Client::batch` share the `Upstream` priority group:
//!   the simulated server never sees more than the group's size at once, and
//!   urgent calls overtake queued batch calls.
//! * `checksum`, a sync CPU-bound function, has a pool of its own: threads wait
//!   for a slot, and its handle `CHECKSUM_POOL` pauses and resumes it.
//! * `Upstream::POOL` scales the group live and pauses it: a paused group turns
//!   calls away, and they reach the caller as `io::Error`s.
//!
//! Run with `cargo run --example attribute_client`.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Calls to the upstream API: 2 at once, smaller weights first, at most 32
/// waiting, none waiting longer than 2 s.
#[pooled::group(
    order = "priority",
    size = 2,
    max_waiting = 32,
    admission_timeout = "2s"
)]
struct Upstream;

/// A simulated slow server that records how many requests it serves at once.
#[derive(Default)]
struct Server {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    served: Mutex<Vec<String>>,
}

impl Server {
    async fn handle(&self, request: String) -> String {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.served.lock().unwrap().push(request.clone());
        tokio::time::sleep(Duration::from_millis(40)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        format!("200 OK {request}")
    }

    /// Takes the peak and the order requests arrived in so far, and starts afresh.
    fn report(&self) -> (usize, Vec<String>) {
        (
            self.peak.swap(0, Ordering::SeqCst),
            std::mem::take(&mut *self.served.lock().unwrap()),
        )
    }
}

#[derive(Clone)]
struct Client {
    server: Arc<Server>,
}

impl Client {
    /// A user is waiting: goes ahead of batch work in the queue.
    #[pooled::pooled(group = Upstream, weight = 0)]
    async fn urgent(self, id: u32) -> io::Result<String> {
        Ok(self.server.handle(format!("urgent-{id}")).await)
    }

    /// Background work: runs when no urgent call waits.
    #[pooled::pooled(group = Upstream, weight = 100)]
    async fn batch(self, id: u32) -> io::Result<String> {
        Ok(self.server.handle(format!("batch-{id}")).await)
    }
}

static CHECKSUMS_AT_ONCE: AtomicUsize = AtomicUsize::new(0);
static CHECKSUMS_PEAK: AtomicUsize = AtomicUsize::new(0);

/// CPU-bound and sync: the calling thread waits for one of 2 slots.
#[pooled::pooled(size = 2)]
fn checksum(data: &[u8]) -> u64 {
    let now = CHECKSUMS_AT_ONCE.fetch_add(1, Ordering::SeqCst) + 1;
    CHECKSUMS_PEAK.fetch_max(now, Ordering::SeqCst);
    // FNV-1a
    let sum = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    std::thread::sleep(Duration::from_millis(20)); // stands for more work
    CHECKSUMS_AT_ONCE.fetch_sub(1, Ordering::SeqCst);
    sum
}

async fn until(condition: impl Fn() -> bool) {
    while !condition() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let started = Instant::now();
    let client = Client {
        server: Arc::new(Server::default()),
    };

    println!(
        "1. 8 batch calls, then 3 urgent ones, through a priority group of {}",
        Upstream::POOL.size()
    );
    let batch: Vec<_> = (0..8)
        .map(|id| tokio::spawn(client.clone().batch(id)))
        .collect();
    until(|| Upstream::POOL.stats().waiting == 6).await;
    let urgent: Vec<_> = (0..3)
        .map(|id| tokio::spawn(client.clone().urgent(id)))
        .collect();
    until(|| Upstream::POOL.stats().waiting == 9).await;
    for call in batch.into_iter().chain(urgent) {
        call.await.expect("the task ran")?;
    }
    let (peak, order) = client.server.report();
    println!("   the server got them in this order: {}", order.join(", "));
    println!("   the server saw at most {peak} requests at once");

    let size = Upstream::POOL.scale(2);
    println!("2. Upstream::POOL.scale(2): the group now has {size} slots");
    let calls: Vec<_> = (8..16)
        .map(|id| tokio::spawn(client.clone().batch(id)))
        .collect();
    for call in calls {
        call.await.expect("the task ran")?;
    }
    let (peak, _) = client.server.report();
    println!("   8 more batch calls: the server saw at most {peak} at once");

    Upstream::POOL.pause();
    let refused = client.clone().urgent(99).await.unwrap_err();
    println!(
        "3. Upstream::POOL.pause(): a call is turned away: {refused} ({:?})",
        refused.kind()
    );
    Upstream::POOL.resume();
    println!("   resumed: {}", client.clone().urgent(100).await?);

    println!(
        "4. checksum() is sync: 6 threads share its pool of {}",
        CHECKSUM_POOL.size()
    );
    let data: Arc<Vec<u8>> = Arc::new((0..=255).collect());
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let data = Arc::clone(&data);
            std::thread::spawn(move || checksum(&data))
        })
        .collect();
    let sums: Vec<u64> = threads
        .into_iter()
        .map(|t| t.join().expect("no panic"))
        .collect();
    println!(
        "   {} equal checksums, at most {} computed at once",
        sums.iter().filter(|&&sum| sum == sums[0]).count(),
        CHECKSUMS_PEAK.load(Ordering::SeqCst)
    );

    CHECKSUM_POOL.pause();
    let waiting = std::thread::spawn(move || checksum(&data));
    until(|| CHECKSUM_POOL.stats().waiting == 1).await;
    println!("   CHECKSUM_POOL.pause(): a caller waits (checksum returns no Result, so it is never turned away)");
    CHECKSUM_POOL.resume();
    let sum = waiting.join().expect("no panic");
    println!("   CHECKSUM_POOL.resume(): it ran and returned {sum:#x}");

    let stats = Upstream::POOL.stats();
    println!(
        "5. group {:?}: {} completed, {} rejected, size {}; done in {} ms",
        Upstream::POOL.name(),
        stats.completed,
        stats.rejected_total(),
        stats.size,
        started.elapsed().as_millis()
    );
    Ok(())
}
