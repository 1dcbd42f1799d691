//! Throttling calls to a slow local service.
//!
//! A small TCP service on localhost answers each request after 50 ms and keeps
//! track of how many requests it is handling at once. We fire 24 requests at
//! it twice: unthrottled, then through a priority pool of 4 slots in which a
//! few requests are urgent. Run with `cargo run --example slow_service`.

use pooled::{Order, Pool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The service: echoes the request id after 50 ms; records its peak load.
async fn start_service() -> std::io::Result<(std::net::SocketAddr, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (active, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let peak_out = peak.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (active, peak) = (active.clone(), peak.clone());
            tokio::spawn(async move {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let mut id = [0u8; 4];
                if conn.read_exact(&mut id).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = conn.write_all(&id).await;
                }
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Ok((addr, peak_out))
}

/// One request: connect, send the id, read it back.
async fn call(addr: std::net::SocketAddr, id: u32) -> std::io::Result<u32> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(&id.to_be_bytes()).await?;
    let mut back = [0u8; 4];
    conn.read_exact(&mut back).await?;
    Ok(u32::from_be_bytes(back))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, peak) = start_service().await?;

    let started = Instant::now();
    let results = futures::future::join_all((0..24).map(|id| call(addr, id))).await;
    println!(
        "unthrottled: {} requests in {:>4} ms, service saw up to {} at once",
        results.iter().filter(|r| r.is_ok()).count(),
        started.elapsed().as_millis(),
        peak.swap(0, Ordering::SeqCst),
    );

    let pool = Pool::builder().order(Order::Priority).size(4).build()?;
    let finished = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let calls = (0..24u32).map(|id| {
        // Every sixth request is urgent (weight 0); the rest are batch work.
        let weight = if id % 6 == 5 { 0 } else { 10 };
        let (pool, finished) = (&pool, finished.clone());
        async move {
            let echoed = pool.submit_weighted(weight, call(addr, id)).await??;
            finished.lock().unwrap().push(echoed);
            Ok::<_, Box<dyn std::error::Error>>(())
        }
    });
    for result in futures::future::join_all(calls).await {
        result?;
    }
    let stats = pool.stats();
    println!(
        "pool of {}:  {} requests in {:>4} ms, service saw up to {} at once",
        stats.size,
        stats.completed,
        started.elapsed().as_millis(),
        peak.load(Ordering::SeqCst),
    );
    let order = finished.lock().unwrap().clone();
    println!("completion order (urgent ids 5, 11, 17, 23 jump the queue): {order:?}");

    pool.pause();
    match pool.submit(call(addr, 99)).await {
        Err(rejected) => println!("paused pool: request 99 rejected ({rejected})"),
        Ok(_) => println!("paused pool: request 99 unexpectedly ran"),
    }
    Ok(())
}
