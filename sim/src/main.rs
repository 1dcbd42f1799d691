//! `pooled-sim`: issue 6's proof. A deterministic simulated server, and how
//! well each way of calling it protects it: no pool, a fixed pool of 64, the
//! seed's queue-depth autoscaling, the latency-adaptive policy, and an oracle
//! that always knows the server's true capacity.
//!
//! ```text
//! cargo run --release -p pooled-sim               # 5 seeds, table + SVG plots in sim/plots/
//! cargo run --release -p pooled-sim -- --quick    # 1 seed, 20 s phases, no plots (CI)
//! cargo run --release -p pooled-sim -- --tune     # parameter exploration (sweep, grid, robust, holdout)
//! cargo run --release -p pooled-sim -- --family   # issue 11: the server family against reference controllers
//! cargo run --release -p pooled-sim -- --family --holdout   # models never tuned on (sim/src/holdout.rs)
//! cargo run --release -p pooled-sim -- --family --fresh     # a third set, written after the policy (sim/src/fresh.rs)
//! cargo run --release -p pooled-sim -- --family --late      # a fourth set, written later still (sim/src/late.rs)
//! cargo run --release -p pooled-sim -- --family --blind     # a fifth set, written after all of them (sim/src/blind.rs)
//! ```
//!
//! `--quick` runs the main table and then a reduced family (1 seed, 20 s
//! phases); `--family --quick` runs the reduced family alone.
//!
//! Time is tokio's paused clock and randomness a seeded splitmix64, so every
//! number is reproducible. The model, metrics and results: `sim/RESULTS.md`.

mod blind;
mod family;
mod fresh;
mod holdout;
mod late;
mod metrics;
mod peers;
mod plot;
mod report;
mod rng;
mod server;
mod sim;
mod tune;

use metrics::Metrics;
use pooled::AdaptiveSettings;
use sim::{Adaptive, Contender, Policy, Run, Workload};

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    /// One seed, 20 s phases, a smaller batch.
    pub quick: bool,
    /// Explore the adaptive policy's parameters instead of the main table:
    /// the stages to run (`sweep`, `grid`, `robust`, `holdout`; empty: none).
    pub tune: Vec<String>,
    /// The first seed (seeds are `seed_base..seed_base + seeds`).
    pub seed_base: u64,
    /// How many seeds (default 5, quick 1).
    pub seeds: u64,
    /// Seconds per phase (default 50, quick 20).
    pub phase: f64,
    /// W1's batch (default 30 000, quick 12 000).
    pub batch: usize,
    /// Skip writing plots.
    pub no_plots: bool,
    /// Run the server family (issue 11) instead of the main table.
    pub family: bool,
    /// With `family`: the holdout models instead of the family's.
    pub holdout: bool,
    /// With `family`: the fresh models (`sim/src/fresh.rs`) instead.
    pub fresh: bool,
    /// With `family`: the late models (`sim/src/late.rs`) instead.
    pub late: bool,
    /// With `family`: the blind models (`sim/src/blind.rs`) instead.
    pub blind: bool,
    /// With `family`: only the models of these names (empty: all).
    pub only: Vec<String>,
    /// With `family`: instead of the tables, print a per-second timeline of
    /// the pooled contender on every seed (limit, requests in the server,
    /// answers), for reading what the policy did.
    pub trace: bool,
    /// With `family`: the adaptive contender's `min` instead of the
    /// builder's default for its `max`.
    pub min: Option<usize>,
}

const USAGE: &str = "usage: pooled-sim [--quick] [--family [--holdout | --fresh | --late | --blind] [--only NAME,..] [--trace] [--min N]] [--seeds N] [--seed-base S] [--no-plots] [--tune [sweep,grid,robust,holdout]]";

impl Options {
    /// The seeds to run.
    pub fn seed_list(&self) -> Vec<u64> {
        (self.seed_base..self.seed_base + self.seeds).collect()
    }

    fn parse() -> Result<Options, String> {
        let mut o = Options {
            quick: false,
            tune: Vec::new(),
            seed_base: 0,
            seeds: 5,
            phase: 50.0,
            batch: 30_000,
            no_plots: false,
            family: false,
            holdout: false,
            fresh: false,
            late: false,
            blind: false,
            only: Vec::new(),
            trace: false,
            min: None,
        };
        let mut seeds = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => o.quick = true,
                "--family" => o.family = true,
                "--holdout" => o.holdout = true,
                "--fresh" => o.fresh = true,
                "--late" => o.late = true,
                "--blind" => o.blind = true,
                "--tune" => {
                    o.tune = match args.next() {
                        Some(stages) if !stages.starts_with('-') => {
                            stages.split(',').map(str::to_owned).collect()
                        }
                        _ => ["sweep", "grid", "robust", "holdout"]
                            .map(str::to_owned)
                            .to_vec(),
                    };
                }
                "--seed-base" => {
                    let n = args.next().ok_or("--seed-base needs a number")?;
                    o.seed_base = n.parse().map_err(|_| format!("bad --seed-base {n}"))?;
                }
                "--min" => {
                    let n = args.next().ok_or("--min needs a number")?;
                    o.min = Some(n.parse().map_err(|_| format!("bad --min {n}"))?);
                }
                "--no-plots" => o.no_plots = true,
                "--only" => {
                    let names = args.next().ok_or("--only needs model names")?;
                    o.only = names.split(',').map(str::to_owned).collect();
                }
                "--trace" => o.trace = true,
                "--seeds" => {
                    let n = args.next().ok_or("--seeds needs a number")?;
                    seeds = Some(n.parse().map_err(|_| format!("bad --seeds {n}"))?);
                }
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if o.quick {
            // CI: no plots, so that a quick run never overwrites the full run's.
            o.no_plots = true;
            o.seeds = 1;
            o.phase = 20.0;
            o.batch = 12_000;
        }
        if let Some(n) = seeds {
            o.seeds = n;
        }
        Ok(o)
    }
}

/// The adaptive pool as the runtime ships it: `AdaptiveSettings::default()`,
/// `min` 2 (the smallest capacity W1's server drops to), `max` 64, and no
/// `size`, so it starts at `min` and doubles per round trip while calls wait
/// for a slot, until load shows.
pub fn default_adaptive() -> Adaptive {
    Adaptive {
        settings: AdaptiveSettings::default(),
        min: 2,
        max: 64,
        initial: None,
    }
}

/// The contenders of the main table, the oracle last.
pub fn contenders() -> Vec<Contender> {
    vec![
        Contender {
            name: "unbounded".into(),
            policy: Policy::Unbounded,
        },
        Contender {
            name: "fixed 64".into(),
            policy: Policy::Fixed(64),
        },
        Contender {
            name: "queue-depth 4..64".into(),
            policy: Policy::QueueDepth,
        },
        Contender {
            name: "adaptive 2..64".into(),
            policy: Policy::Adaptive(default_adaptive()),
        },
        // The one variation shown: `min` is the setting a user picks that
        // decides the light-load target and where the pool starts.
        Contender {
            name: "adaptive 1..64".into(),
            policy: Policy::Adaptive(Adaptive {
                min: 1,
                ..default_adaptive()
            }),
        },
        Contender {
            name: "oracle".into(),
            policy: Policy::Oracle,
        },
    ]
}

/// Runs `f` over `items` on all cores, keeping the order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                slots.lock().unwrap()[i] = Some(r);
            });
        }
    });
    out.into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Every contender on every seed of `workload`: the runs (`[contender][seed]`)
/// and the median metrics per contender. The oracle must be last.
pub fn evaluate(
    workload: &Workload,
    contenders: &[Contender],
    seeds: &[u64],
) -> (Vec<Vec<Run>>, Vec<Metrics>) {
    let jobs: Vec<(usize, u64)> = (0..contenders.len())
        .flat_map(|c| seeds.iter().map(move |&s| (c, s)))
        .collect();
    let mut flat = par_map(&jobs, |&(c, s)| sim::run(workload, &contenders[c], s)).into_iter();
    let runs: Vec<Vec<Run>> = contenders
        .iter()
        .map(|_| seeds.iter().map(|_| flat.next().expect("a run")).collect())
        .collect();
    let oracle = runs.last().expect("the oracle");
    let metrics = runs
        .iter()
        .enumerate()
        .map(|(c, per_seed)| {
            let is_oracle = c + 1 == runs.len();
            let all: Vec<Metrics> = per_seed
                .iter()
                .zip(oracle)
                .map(|(run, o)| metrics::measure(workload, run, (!is_oracle).then_some(o)))
                .collect();
            metrics::medians(&all)
        })
        .collect();
    (runs, metrics)
}

fn main() {
    let options = match Options::parse() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let started = std::time::Instant::now();
    let workloads = Workload::all(options.phase, options.batch, server::Model::default());
    if !options.tune.is_empty() {
        tune::explore(&options, &workloads);
        eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
        return;
    }
    if options.family {
        family::run(&options);
        println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
        return;
    }
    let contenders = contenders();
    let mut results = Vec::new();
    for w in &workloads {
        let t = std::time::Instant::now();
        let (runs, metrics) = evaluate(w, &contenders, &options.seed_list());
        eprintln!("{}: {:.1} s", w.name, t.elapsed().as_secs_f64());
        if !options.no_plots {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plots");
            let first: Vec<&Run> = runs.iter().map(|r| &r[0]).collect();
            match plot::write(&dir, w, &contenders, &first, options.seed_base) {
                Ok(path) => eprintln!("  wrote {}", path.display()),
                Err(e) => eprintln!("  could not write the plot: {e}"),
            }
        }
        results.push(metrics);
    }
    report::print(&options, &workloads, &contenders, &results);
    if options.quick {
        family::run(&options);
    }
    println!(
        "\ntotal {:.1} s ({} seed{}, {} s phases)",
        started.elapsed().as_secs_f64(),
        options.seeds,
        if options.seeds == 1 { "" } else { "s" },
        options.phase
    );
}
