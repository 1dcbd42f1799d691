// pool-macros/src/lib.rs, "Weights": "`weight = <expression>`: any `i64`
// expression over the arguments, evaluated before the call waits"; and
// "Functions that return a future": the body "runs ... at once ... to build
// the future". An expression over an argument the body moves (a `String`
// moved into the returned or awaited future, an `#[async_trait]` method's
// argument, `self` fields) compiles, and ranks the call.
use std::future::Future;
use std::pin::Pin;

#[pooled::group(order = "priority", size = 2)]
struct Ranked;

#[pooled::pooled(group = Ranked, weight = name.len() as i64)]
async fn greet(name: String) -> String {
    name
}

#[pooled::pooled(group = Ranked, weight = name.len() as i64)]
fn later(name: String) -> impl Future<Output = String> + Send {
    async move { name }
}

#[pooled::pooled(group = Ranked, weight = name.len() as i64)]
fn boxed(name: String) -> Pin<Box<dyn Future<Output = std::io::Result<String>> + Send>> {
    Box::pin(async move { Ok(name) })
}

#[pooled::pooled(group = Ranked, weight = name.len() as i64, blocking)]
fn crunch(name: String) -> usize {
    name.len()
}

#[pooled::pooled(group = Ranked, weight = name.len() as i64)]
fn sync_len(name: String) -> usize {
    drop(name);
    1
}

struct Job {
    rank: i64,
    text: String,
}

impl Job {
    #[pooled::pooled(group = Ranked, weight = self.rank)]
    async fn run(self) -> String {
        self.text
    }

    #[pooled::pooled(group = Ranked, weight = self.rank)]
    fn run_later(self) -> impl Future<Output = String> + Send {
        async move { self.text }
    }
}

#[async_trait::async_trait]
trait Store {
    async fn load(&self, key: String) -> Result<usize, pooled::Rejected>;
}

struct Db;

#[async_trait::async_trait]
impl Store for Db {
    #[pooled::pooled(group = Ranked, weight = key.len() as i64)]
    async fn load(&self, key: String) -> Result<usize, pooled::Rejected> {
        Ok(key.len())
    }
}

fn main() {
    futures::executor::block_on(async {
        assert_eq!(greet("ab".into()).await, "ab");
        assert_eq!(later("abc".into()).await, "abc");
        assert_eq!(boxed("x".into()).await.unwrap(), "x");
        assert_eq!(sync_len("abcd".into()), 1);
        let job = Job { rank: 3, text: "j".into() };
        assert_eq!(job.run().await, "j");
        let job = Job { rank: 4, text: "k".into() };
        assert_eq!(job.run_later().await, "k");
        assert_eq!(Db.load("key".into()).await, Ok(3));
    });
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(crunch("abcde".into())), 5);
    assert_eq!(Ranked::POOL.stats().completed, 8);
}
