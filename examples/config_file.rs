//! Tuning annotated functions from a configuration file, without recompiling.
//!
//! Loads `examples/pooled.toml`, shows every group with its settings (even one
//! never called), runs some work, reloads a changed limit into the running
//! pool, and shows what a bad file is told. Run with
//! `cargo run --example config_file`.

use pooled::config;
use std::time::Duration;

/// A slow call to a profile service.
#[pooled::pooled(size = 2)]
async fn fetch_profile(id: u32) -> std::io::Result<String> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(format!("profile {id}"))
}

/// CPU-bound work, called from sync code.
#[pooled::pooled(size = 1)]
fn render_thumbnail(pixels: &[u8]) -> u64 {
    pixels.iter().map(|&p| u64::from(p)).sum()
}

/// Never called here, yet configurable and listed.
#[pooled::pooled(size = 5)]
#[allow(dead_code)]
async fn audit_log(_line: &str) {}

fn show_groups(title: &str) {
    println!("{title}");
    for group in pooled::groups()
        .iter()
        .filter(|g| g.name.starts_with("config_file::"))
    {
        let s = &group.settings;
        let limits = match s.kind {
            pooled::Kind::Fixed => format!("size {}", s.starting_size()),
            pooled::Kind::Autoscale => format!("{}..={}", s.bounds().0, s.bounds().1),
        };
        let running = group.stats.map_or("not started".to_owned(), |st| {
            format!("{} completed", st.completed)
        });
        println!(
            "  {:<32} {:<9} {:<8} {running}",
            group.name,
            s.kind.to_string(),
            limits
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    show_groups("attribute values:");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/pooled.toml");
    let report = config::load(path)?;
    println!("\nloaded {path}:\n{report}\n");
    show_groups("after the file:");

    let profiles = futures::future::join_all((0..8).map(fetch_profile)).await;
    println!(
        "\nfetched {} profiles; thumbnail sum {}",
        profiles.len(),
        render_thumbnail(&[1, 2, 3])
    );
    println!(
        "fetch_profile pool size: {} (the attribute said 2)",
        FETCH_PROFILE_POOL.size()
    );

    // Live reload of the edited file: the running pool grows at once, the
    // settings that did not change are left alone.
    let edited = std::fs::read_to_string(path)?.replace("size = 4 ", "size = 8 ");
    let report = config::load_str("pooled.toml (edited)", &edited)?;
    println!("\nreload:\n{report}");
    println!("fetch_profile pool is now {}", FETCH_PROFILE_POOL.size());

    // A bad file changes nothing and says where and why.
    let bad = "[groups.\"config_file::fetch_profil\"]\nsize = 3\n";
    let err = config::load_str("bad.toml", bad).unwrap_err();
    println!("\nbad file: {err}");
    println!("fetch_profile pool is still {}", FETCH_PROFILE_POOL.size());
    Ok(())
}
