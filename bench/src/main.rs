//! `pooled-bench`: the cost of throttling with `pooled`, against what a user
//! would pick instead, as one table of ratios measured in the same run
//! (issue 5; results and analysis in `BENCHMARKS.md`).
//!
//! ```text
//! cargo run --release -p pooled-bench                 # full table, < 3 min on 2 cores
//! cargo run --release -p pooled-bench -- --quick      # tiny smoke run (CI)
//! cargo run --release -p pooled-bench -- --case 2,5   # only some cases
//! ```
//!
//! Every timed case runs each of its variants (the pool and its anchors)
//! interleaved, `--runs` times, and reports the median ns/call of each, on a
//! `current_thread` and a 2-worker `multi_thread` tokio runtime. The anchors
//! are real crates: `tokio::sync::Semaphore`, `futures`' `buffer_unordered`,
//! a worker-queue pool built from tokio tasks and channels (the Python
//! seed's design, in [`worker_queue`]), and issue 14's peers in [`peers`]
//! (futures-intrusive, async-lock, priority-semaphore, ranked-semaphore,
//! tower's `ConcurrencyLimit`). `bench/callgrind.sh` counts the instructions
//! per call of cases 1 and 2.

mod alloc_counter;
mod cases;
mod gate;
mod machine;
mod measure;
mod options;
mod peers;
mod report;
mod rng;
mod runtimes;
mod worker_queue;

use options::Options;
use report::Table;

#[global_allocator]
static ALLOCATOR: alloc_counter::CountingAlloc = alloc_counter::CountingAlloc;

fn main() {
    let options = match Options::from_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{}", options::USAGE);
            std::process::exit(2);
        }
    };
    if options.help {
        println!("{}", options::USAGE);
        return;
    }
    let started = std::time::Instant::now();
    println!("{}", machine::describe(&options));
    let mut table = Table::default();
    for case in cases::ALL {
        if options.wants(case.number) {
            eprintln!("case {}: {} ...", case.number, case.name);
            (case.run)(&options, &mut table);
        }
    }
    println!("{}", table.render());
    println!(
        "{} of {} targets met; total time {:.1} s; load average at end: {}{}",
        table.met(),
        table.targeted(),
        started.elapsed().as_secs_f64(),
        machine::load_average(),
        if options.quick {
            " (quick mode: too few iterations for the numbers to mean anything)"
        } else {
            ""
        }
    );
}
