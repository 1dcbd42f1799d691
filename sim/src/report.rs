//! The tables (Markdown) and the target check.

use crate::metrics::Metrics;
use crate::sim::{Contender, Policy, Workload};
use crate::Options;

fn ms(secs: f64) -> String {
    if secs.is_nan() {
        "—".into()
    } else {
        format!("{:.0}", secs * 1000.0)
    }
}

fn secs(list: &[f64]) -> String {
    if list.is_empty() {
        return "—".into();
    }
    list.iter()
        .map(|s| {
            if s.is_finite() {
                format!("{s:.1}")
            } else {
                "never".into()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One workload's table.
pub fn table(workload: &Workload, contenders: &[Contender], metrics: &[Metrics]) -> String {
    let oracle = metrics.last().expect("the oracle");
    let offered = oracle.arrived / workload.duration;
    let mut out = format!(
        "### {} — {} ({:.0} s, offered {:.0} calls/s)\n\n",
        workload.name, workload.title, workload.duration, offered
    );
    out += "| contender | goodput /s | steady vs oracle | failed | p50 ms | p99 ms | p99 e2e ms | re-converge after drop, s | 80% after rise, s | CV |\n";
    out += "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
    for (c, m) in contenders.iter().zip(metrics) {
        out += &format!(
            "| {} | {:.1} | {:.0}% | {:.0} ({:.2}%) | {} | {} | {} | {} | {} | {} |\n",
            c.name,
            m.goodput,
            100.0 * m.steady_goodput / oracle.steady_goodput,
            m.failed,
            100.0 * m.failed_fraction,
            ms(m.p50),
            ms(m.p99),
            if workload.batch > 0 {
                "—".into()
            } else {
                ms(m.p99_e2e)
            },
            secs(&m.converge_drop),
            secs(&m.converge_rise),
            if m.cv.is_nan() {
                "—".into()
            } else {
                format!("{:.3}", m.cv)
            },
        );
    }
    out
}

/// A target and whether it is met.
pub struct Check {
    /// What is checked, with the measured value.
    pub what: String,
    /// Met?
    pub met: bool,
}

/// The targets for the contender at `index`, from the three
/// workloads' metrics (`results[workload][contender]`; the oracle is last,
/// `unbounded` first).
pub fn checks(workloads: &[Workload], results: &[Vec<Metrics>], index: usize) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |what: String, met: bool| out.push(Check { what, met });
    let (w1, w2, w3) = (&results[0], &results[1], &results[2]);
    let (a1, o1) = (&w1[index], w1.last().expect("oracle"));
    let (a2, o2) = (&w2[index], w2.last().expect("oracle"));
    let (a3, u3) = (&w3[index], &w3[0]);

    let r = a1.steady_goodput / o1.steady_goodput;
    check(
        format!(
            "W1 steady-overload goodput ≥ 90% of oracle: {:.1}%",
            100.0 * r
        ),
        r >= 0.9,
    );
    let r = a2.phase_goodput[1] / o2.phase_goodput[1];
    check(
        format!(
            "W2 overload-phase goodput ≥ 90% of oracle: {:.1}%",
            100.0 * r
        ),
        r >= 0.9,
    );
    for (w, m) in workloads.iter().zip([a1, a2, a3]) {
        check(
            format!(
                "{} failures ≤ 0.1%: {:.3}% ({:.0})",
                w.name,
                100.0 * m.failed_fraction,
                m.failed
            ),
            m.failed_fraction <= 0.001,
        );
    }
    for (w, m, o) in [(&workloads[0], a1, o1), (&workloads[1], a2, o2)] {
        check(
            format!(
                "{} p99 ≤ 2× oracle: {} ms vs {} ms",
                w.name,
                ms(m.p99),
                ms(o.p99)
            ),
            m.p99 <= 2.0 * o.p99,
        );
    }
    for d in &a1.converge_drop {
        check(
            format!("W1 re-converges ≤ 5 s after the drop: {}", secs(&[*d])),
            *d <= 5.0,
        );
    }
    for d in &a1.converge_rise {
        check(
            format!("W1 80% of oracle ≤ 10 s after the rise: {}", secs(&[*d])),
            *d <= 10.0,
        );
    }
    let offered = a3.arrived / workloads[2].duration;
    let r = a3.goodput / offered;
    check(
        format!("W3 goodput = offered ±2%: {:.2}%", 100.0 * r),
        (0.98..=1.02).contains(&r),
    );
    check(
        format!(
            "W3 p99 (from arrival) ≤ 1.1× unbounded: {} ms vs {} ms",
            ms(a3.p99_e2e),
            ms(u3.p99_e2e)
        ),
        a3.p99_e2e <= 1.1 * u3.p99_e2e,
    );
    out
}

/// Prints every table and the target check of the adaptive contenders.
pub fn print(
    options: &Options,
    workloads: &[Workload],
    contenders: &[Contender],
    results: &[Vec<Metrics>],
) {
    println!(
        "## pooled-sim: {} seed{} (medians), {} s phases{}\n",
        options.seeds,
        if options.seeds == 1 { "" } else { "s" },
        options.phase,
        if options.quick { " (quick)" } else { "" }
    );
    for (w, m) in workloads.iter().zip(results) {
        println!("{}", table(w, contenders, m));
    }
    for (i, c) in contenders.iter().enumerate() {
        if !matches!(c.policy, Policy::Adaptive(..)) {
            continue;
        }
        let list = checks(workloads, results, i);
        let met = list.iter().filter(|c| c.met).count();
        println!("### targets: {} — {met} of {} met\n", c.name, list.len());
        for check in list {
            println!("- [{}] {}", if check.met { "x" } else { " " }, check.what);
        }
        println!();
    }
}

fn limits(list: &[f64]) -> String {
    if list.iter().all(|l| l.is_nan()) {
        return "—".into();
    }
    list.iter()
        .map(|l| format!("{l:.1}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// One family model's table.
pub fn family_table(workload: &Workload, contenders: &[Contender], metrics: &[Metrics]) -> String {
    let oracle = metrics.last().expect("the oracle");
    let mut out = format!(
        "### {} — {} ({:.0} s, offered {:.0} calls/s)\n\n",
        workload.name,
        workload.title,
        workload.duration,
        oracle.arrived / workload.duration
    );
    out += "| contender | goodput /s | vs oracle | failed | mean ms | p99 ms | mean from arrival ms | p99 from arrival ms | mean limit by phase |\n";
    out += "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
    for (c, m) in contenders.iter().zip(metrics) {
        out += &format!(
            "| {} | {:.1} | {:.0}% | {:.0} ({:.2}%) | {} | {} | {} | {} | {} |\n",
            c.name,
            m.goodput,
            100.0 * m.goodput / oracle.goodput,
            m.failed,
            100.0 * m.failed_fraction,
            ms(m.mean),
            ms(m.p99),
            ms(m.mean_e2e),
            ms(m.p99_e2e),
            limits(&m.phase_limit),
        );
    }
    out
}

/// The family's targets for `pooled` (contender 0) against the peers
/// (contenders `1..n-1`) and the oracle (last), on one model.
pub struct FamilyCheck {
    /// The model.
    pub model: &'static str,
    /// `pooled`'s goodput over the best peer's, and that peer's name.
    pub vs_peer: (f64, String),
    /// `pooled`'s goodput over the oracle's.
    pub vs_oracle: f64,
    /// `pooled`'s failed calls and the fewest of any peer.
    pub failed: (f64, f64),
    /// `pooled`'s p99 from arrival over the oracle's.
    pub p99: f64,
}

impl FamilyCheck {
    /// From one model's medians.
    pub fn new(model: &'static str, contenders: &[Contender], metrics: &[Metrics]) -> FamilyCheck {
        let (pooled, oracle) = (&metrics[0], metrics.last().expect("the oracle"));
        let peers = 1..metrics.len() - 1;
        let best = peers
            .clone()
            .max_by(|&a, &b| metrics[a].goodput.total_cmp(&metrics[b].goodput))
            .expect("a peer");
        let fewest = peers
            .map(|i| metrics[i].failed)
            .fold(f64::INFINITY, f64::min);
        FamilyCheck {
            model,
            vs_peer: (
                pooled.goodput / metrics[best].goodput,
                contenders[best].name.clone(),
            ),
            vs_oracle: pooled.goodput / oracle.goodput,
            failed: (pooled.failed, fewest),
            p99: pooled.p99_e2e / oracle.p99_e2e,
        }
    }

    /// The four targets: (what, met).
    pub fn targets(&self) -> [(String, bool); 4] {
        [
            (
                format!(
                    "goodput ≥ 1.0× best peer ({}): {:.2}×",
                    self.vs_peer.1, self.vs_peer.0
                ),
                self.vs_peer.0 >= 1.0,
            ),
            (
                format!("goodput ≥ 0.9× oracle: {:.2}×", self.vs_oracle),
                self.vs_oracle >= 0.9,
            ),
            (
                format!(
                    "failed ≤ fewest of any peer: {:.0} vs {:.0}",
                    self.failed.0, self.failed.1
                ),
                self.failed.0 <= self.failed.1,
            ),
            (
                format!("p99 from arrival ≤ 1.1× oracle: {:.2}×", self.p99),
                self.p99 <= 1.1,
            ),
        ]
    }
}

fn mark(met: bool) -> &'static str {
    if met {
        "PASS"
    } else {
        "FAIL"
    }
}

/// Prints the family's tables, the summary of ratios and the target lines.
pub fn family(options: &Options, outcomes: &[crate::family::Outcome]) {
    println!(
        "## pooled-sim --family{}: {} seed{} (medians), {} s phases{}\n",
        if options.blind {
            " --blind"
        } else if options.late {
            " --late"
        } else if options.fresh {
            " --fresh"
        } else if options.holdout {
            " --holdout"
        } else {
            ""
        },
        options.seeds,
        if options.seeds == 1 { "" } else { "s" },
        options.phase,
        if options.quick { " (quick)" } else { "" }
    );
    for o in outcomes {
        println!(
            "{}\n{}\n",
            family_table(&o.workload, &o.contenders, &o.metrics),
            o.oracle_note
        );
    }
    let checks: Vec<FamilyCheck> = outcomes
        .iter()
        .map(|o| FamilyCheck::new(o.workload.name, &o.contenders, &o.metrics))
        .collect();
    println!(
        "### summary: {} against the peers and the oracle\n",
        outcomes
            .first()
            .map_or("pooled", |o| o.contenders[0].name.as_str())
    );
    println!("| model | goodput vs best peer | vs oracle | failed vs fewest of peers | p99 from arrival vs oracle | targets met |");
    println!("|---|--:|--:|--:|--:|--:|");
    let mut met_total = 0;
    for c in &checks {
        let t = c.targets();
        let met = t.iter().filter(|(_, m)| *m).count();
        met_total += met;
        println!(
            "| {} | {:.2}× ({}) {} | {:.2}× {} | {:.0} vs {:.0} {} | {:.2}× {} | {met}/4 |",
            c.model,
            c.vs_peer.0,
            c.vs_peer.1,
            mark(t[0].1),
            c.vs_oracle,
            mark(t[1].1),
            c.failed.0,
            c.failed.1,
            mark(t[2].1),
            c.p99,
            mark(t[3].1),
        );
    }
    println!("\n### targets: {met_total} of {} met\n", 4 * checks.len());
    for c in &checks {
        for (what, met) in c.targets() {
            println!("- {} {}: {what}", mark(met), c.model);
        }
    }
    println!();
}
