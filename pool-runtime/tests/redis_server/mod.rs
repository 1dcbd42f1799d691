//! A real `redis-server` for the fleet tests: its own process on a free
//! loopback port, without persistence, killed on drop; stopped and started
//! again (on the same port) to inject faults.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` process the test owns.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers.
    pub fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let mut server = RedisServer { port, child: None };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (`kill -9`: its data and script cache are gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start `redis-server` ({error}): the fleet tests need it on PATH; \
                     install it with `apt-get install -y redis-server` (`.ci/test` does)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(mut connection) = self.connection() {
                if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not answer on port {} within 5 s",
            self.port
        );
    }

    /// The server's process id (to stop and continue it with signals).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// A plain (sync) connection, for the test's own bookkeeping.
    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(1))
    }

    /// The keys whose names contain `pattern`.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut connection = self.connection().expect("redis answers");
        redis::cmd("KEYS")
            .arg(format!("*{pattern}*"))
            .query(&mut connection)
            .expect("KEYS")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The outside count of a call's work, kept in a Redis the fleet under test
/// does not use: `<prefix>:running` up (and `<prefix>:max` kept,
/// `<prefix>:started` counted) when it starts, down when it ends or is
/// dropped.
#[allow(dead_code)]
pub struct Running {
    connection: redis::Connection,
    prefix: String,
}

const ENTER: &str = "local n = redis.call('INCR', KEYS[1]) \
    redis.call('INCR', KEYS[3]) \
    if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end \
    return n";

#[allow(dead_code)]
impl Running {
    pub fn enter(url: &str, prefix: &str) -> Running {
        let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: i64 = redis::Script::new(ENTER)
            .key(format!("{prefix}:running"))
            .key(format!("{prefix}:max"))
            .key(format!("{prefix}:started"))
            .invoke(&mut connection)
            .unwrap();
        Running {
            connection,
            prefix: prefix.to_owned(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _: redis::RedisResult<i64> = redis::cmd("DECR")
            .arg(format!("{}:running", self.prefix))
            .query(&mut self.connection);
    }
}

/// A worker process's setting, passed in its environment.
#[allow(dead_code)]
pub fn worker_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a worker"))
}

/// Waits (up to `timeout`) until `done` holds; whether it did.
#[allow(dead_code)]
pub fn wait_until(timeout: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    done()
}

// ---- helpers the fleet test files share ---------------------------------

/// A `&'static str` of `text` (group names and URLs of groups built at run
/// time).
#[allow(dead_code)]
pub fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// A `'static` group named `name`, its spec completed by `spec`.
#[allow(dead_code)]
pub fn group_with(
    name: &str,
    spec: impl FnOnce(pool_runtime::GroupSpec) -> pool_runtime::GroupSpec,
) -> &'static pool_runtime::Group {
    Box::leak(Box::new(pool_runtime::Group::new(spec(
        pool_runtime::GroupSpec::new(leak(name.to_owned())),
    ))))
}

/// A group of 8 local slots under a fleet limit of `limit` on `server`,
/// with a 1 s lease and `policy` while Redis cannot be reached.
#[allow(dead_code)]
pub fn fleet_group(
    name: &str,
    server: &RedisServer,
    limit: usize,
    policy: pool_runtime::fleet::OnUnreachable,
) -> &'static pool_runtime::Group {
    let url = leak(server.url());
    group_with(name, |spec| {
        spec.size(8)
            .fleet_limit(limit)
            .fleet_url(url)
            .fleet_lease(Duration::from_millis(1000))
            .fleet_unreachable(policy)
    })
}

/// An independent client of `group`'s fleet (its own connection and
/// leases, as another process would have).
#[allow(dead_code)]
pub fn other_client(group: &pool_runtime::Group) -> pool_runtime::fleet::Fleet {
    pool_runtime::fleet::Fleet::connect(group.name(), &group.settings().fleet).unwrap()
}

/// The integer at `key` (0 if unset).
#[allow(dead_code)]
pub fn get(server: &RedisServer, key: &str) -> i64 {
    let mut connection = server.connection().unwrap();
    redis::cmd("GET")
        .arg(key)
        .query::<Option<i64>>(&mut connection)
        .unwrap()
        .unwrap_or(0)
}

/// The size of the sorted set at `key`.
#[allow(dead_code)]
pub fn zcard(server: &RedisServer, key: &str) -> i64 {
    let mut connection = server.connection().unwrap();
    redis::cmd("ZCARD").arg(key).query(&mut connection).unwrap()
}

/// Fails unless every key of `group`'s fleet is gone within 3 s.
#[allow(dead_code)]
pub fn assert_no_fleet_keys(server: &RedisServer, group: &str) {
    let tag = format!("{{pooled:{group}}}");
    let clean = wait_until(Duration::from_secs(3), || server.keys(&tag).is_empty());
    assert!(clean, "keys left behind: {:?}", server.keys(&tag));
}
