//! Acceptance tests, round 15, through the facade: the fleet keys of the
//! attribute (`fleet_limit`, `fleet_url`, `fleet_lease`,
//! `fleet_unreachable`), overridden by a `POOLED_*` variable, against a
//! real `redis-server` the test starts; concurrency counted from outside.
#![cfg(all(feature = "redis", feature = "tokio", feature = "config"))]

mod common;
use common::Meter;

use pooled::Rejected;
use std::io::{Read, Write};
use std::time::Duration;

/// A `redis-server` of the test's own on a free port, killed on drop.
struct Redis {
    port: u16,
    child: std::process::Child,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH (`.ci/test` installs it)");
        let redis = Redis { port, child };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let mut answer = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut answer).is_ok() {
                    assert_eq!(&answer, b"+PONG\r\n");
                    return redis;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every fleet key in the attribute; the URL names a port nobody answers
/// on, so only a variable can make this group reach a Redis.
#[pooled::group(
    name = "a15-fleet-attr",
    size = 3,
    fleet_limit = 1,
    fleet_url = "redis://127.0.0.1:1",
    fleet_lease = "2s",
    fleet_unreachable = "reject"
)]
pub struct FleetAttr;

#[pooled::pooled(group = FleetAttr)]
async fn fenced(meter: &'static Meter, ms: u64) -> Result<Option<u64>, Rejected> {
    let _inside = meter.enter();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(pooled::fleet::token())
}

/// README, fleet limits: "The same keys work in `#[pooled(...)]`, on
/// `GroupSpec`/`GroupSettings`, and as `POOLED_<GROUP>_FLEET_LIMIT` etc.",
/// environment over attribute. With the variable's URL, the attribute's
/// limit of 1 holds across 6 calls on 3 local slots (counted from outside),
/// each call sees a fencing token, and the attribute's lease and policy are
/// in force.
#[test]
fn the_attributes_fleet_keys_hold_with_a_variables_url() {
    let name = "the_attributes_fleet_keys_hold_with_a_variables_url";
    let redis = (!common::is_child_process()).then(Redis::start);
    let url = redis.as_ref().map(Redis::url).unwrap_or_default();
    common::in_child_process(name, &[("POOLED_A15_FLEET_ATTR_FLEET_URL", &url)], || {
        let settings = FleetAttr::POOL.settings().fleet;
        assert_eq!(settings.limit, Some(1));
        assert_eq!(settings.lease, Duration::from_secs(2));
        assert_eq!(settings.unreachable, pooled::fleet::OnUnreachable::Reject);
        assert_ne!(
            settings.url,
            Some("redis://127.0.0.1:1"),
            "the variable wins"
        );
        static METER: Meter = Meter::new();
        let meter = &METER;
        let runtime = common::multi_thread();
        let tokens = runtime.block_on(async {
            let calls = (0..6).map(|_| tokio::spawn(fenced(meter, 30)));
            let mut tokens = Vec::new();
            for call in calls {
                tokens.push(call.await.unwrap().expect("ran under a lease"));
            }
            let fleet = FleetAttr::POOL.fleet().expect("a fleet");
            tokio::time::timeout(Duration::from_secs(10), fleet.flush())
                .await
                .unwrap();
            tokens
        });
        assert!(
            meter.peak() <= 1,
            "{} ran at once under a fleet limit of 1",
            meter.peak()
        );
        assert!(tokens.iter().all(Option::is_some), "{tokens:?}");
        let mut sorted = tokens.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 6, "every lease has its own token: {tokens:?}");
        let s = FleetAttr::POOL.fleet_stats().unwrap();
        assert_eq!((s.acquired, s.released, s.held), (6, 6, 0), "{s:?}");
    });
}

/// The attribute's own URL and `fleet_unreachable = "reject"`: nobody
/// answers there, so the call is turned away with `FleetUnavailable`, its
/// work never run.
#[test]
fn the_attributes_reject_policy_turns_calls_away_while_redis_is_unreachable() {
    let name = "the_attributes_reject_policy_turns_calls_away_while_redis_is_unreachable";
    common::in_child_process(name, &[], || {
        static METER: Meter = Meter::new();
        let meter = &METER;
        let out = common::multi_thread().block_on(fenced(meter, 0));
        assert_eq!(out, Err(Rejected::FleetUnavailable));
        assert_eq!(meter.peak(), 0, "the work never ran");
        assert_eq!(
            FleetAttr::POOL.fleet_stats().unwrap().rejected_unavailable,
            1
        );
    });
}
