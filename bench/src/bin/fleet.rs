//! Issue 13's benchmark row: fleet lease round trips on loopback against the
//! raw cost of one `EVALSHA` round trip, measured in the same run.
//!
//! ```text
//! cargo run --release -p pooled-bench --features redis --bin fleet
//! ```
//!
//! Starts its own `redis-server` (on a free loopback port, no persistence),
//! then measures, each sequentially (one call at a time) and with 16 calls
//! in flight:
//!
//! * `evalsha`: a bare redis-rs loop of a trivial script (`return 1`) over a
//!   connection manager, as the fleet's connection is;
//! * `fleet lease`: `Fleet::acquire` then `Lease::release` (awaited until
//!   Redis has it): two scripts per cycle, plus the hops to the fleet's
//!   background thread;
//! * `fleet group call`: `Group::submit` of an empty future on a group with a
//!   fleet limit (local slot, lease, release).

use pooled::fleet::{Fleet, FleetSettings};
use pooled::{Group, GroupSpec};
use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SEQUENTIAL: usize = 20_000;
const CONCURRENT: usize = 16;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on PATH (apt-get install -y redis-server)");
    let server = Server(child);
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(mut connection) = client.get_connection() {
            if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, url)
}

/// Runs `cycle` `total` times, `parallel` at once; cycles per second.
async fn rate<F, C>(total: usize, parallel: usize, cycle: C) -> f64
where
    C: Fn() -> F + Clone + Send + 'static,
    F: Future<Output = ()> + Send,
{
    // Warm-up (connections, script loading).
    for _ in 0..200 {
        cycle().await;
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..parallel)
        .map(|_| {
            let cycle = cycle.clone();
            tokio::spawn(async move {
                for _ in 0..total / parallel {
                    cycle().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (total / parallel * parallel) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let (_server, url) = start_server();
    let url: &'static str = Box::leak(url.into_boxed_str());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = redis::Client::open(url).unwrap();
        let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
        let script = redis::Script::new("return 1");
        let evalsha = move || {
            let (mut connection, script) = (connection.clone(), script.clone());
            async move {
                let one: i64 = script.invoke_async(&mut connection).await.unwrap();
                assert_eq!(one, 1);
            }
        };
        let settings: FleetSettings = pooled::GroupSettings::DEFAULT
            .fleet_limit(1000)
            .fleet_url(url)
            .fleet;
        let fleet = Fleet::connect("bench_lease", &settings).unwrap();
        let lease = move || {
            let fleet = fleet.clone();
            async move {
                fleet.acquire().await.unwrap().release().await;
            }
        };
        let group: &'static Group = Box::leak(Box::new(Group::new(
            GroupSpec::new("bench_group")
                .size(64)
                .fleet_limit(1000)
                .fleet_url(url),
        )));
        let call = move || async move {
            group.submit(0, async {}).await.unwrap();
        };
        println!("| measure | in flight | per second | µs per cycle (sequential) |");
        println!("|---|---|---|---|");
        for (name, parallel) in [("sequential", 1), ("concurrent", CONCURRENT)] {
            let raw = rate(SEQUENTIAL, parallel, evalsha.clone()).await;
            let leases = rate(SEQUENTIAL / 2, parallel, lease.clone()).await;
            let calls = rate(SEQUENTIAL / 2, parallel, call).await;
            for (what, per_second) in [
                ("evalsha `return 1`", raw),
                ("fleet lease acquire + release", leases),
                ("fleet group call (`submit`)", calls),
            ] {
                let micros = if parallel == 1 {
                    format!("{:.1}", 1e6 / per_second)
                } else {
                    "—".to_owned()
                };
                println!("| {what} | {parallel} ({name}) | {per_second:.0} | {micros} |");
            }
            println!(
                "| lease cycle / evalsha round trip | {parallel} | {:.2}× the time |  |",
                raw / leases
            );
        }
    });
}
