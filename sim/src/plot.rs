//! SVG plots, written as plain text: for one seed of a workload, over time,
//! the pool's limit, the requests in the server, the p99 latency and the
//! goodput of each contender.

use crate::peers::Peer;
use crate::server::Response;
use crate::sim::{Contender, Policy, Run, Workload};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const WIDTH: f64 = 1000.0;
const PANEL: f64 = 190.0;
const GAP: f64 = 46.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 205.0;
const TOP: f64 = 40.0;

fn colour(policy: &Policy, index: usize) -> (&'static str, &'static str) {
    match policy {
        Policy::Unbounded => ("#999999", ""),
        Policy::Fixed(_) => ("#d62728", ""),
        Policy::QueueDepth => ("#ff7f0e", ""),
        Policy::Adaptive(..) if index % 2 == 1 => ("#1f77b4", ""),
        Policy::Adaptive(..) => ("#2ca02c", ""),
        Policy::Peer(Peer::Arc) => ("#9467bd", ""),
        Policy::Peer(Peer::Gradient2) => ("#8c564b", ""),
        Policy::Peer(Peer::Vegas) => ("#e377c2", ""),
        Policy::Oracle | Policy::Capacity(_) => ("#000000", "5,4"),
    }
}

/// A y axis: linear, or logarithmic (base 10 or 2).
#[derive(Clone, Copy)]
enum Scale {
    Linear(f64, f64),
    Log(f64, f64),
}

impl Scale {
    fn frac(self, v: f64) -> f64 {
        match self {
            Scale::Linear(lo, hi) => (v - lo) / (hi - lo),
            Scale::Log(lo, hi) => (v.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln()),
        }
        .clamp(0.0, 1.0)
    }
}

struct Panel<'a> {
    svg: &'a mut String,
    top: f64,
    duration: f64,
    scale: Scale,
}

impl Panel<'_> {
    fn x(&self, t: f64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * t / self.duration
    }
    fn y(&self, v: f64) -> f64 {
        self.top + PANEL * (1.0 - self.scale.frac(v))
    }

    fn frame(&mut self, title: &str, ticks: &[(f64, &str)], phases: &[f64]) {
        let (x0, x1) = (self.x(0.0), self.x(self.duration));
        let (y0, y1) = (self.top, self.top + PANEL);
        let mut s = String::new();
        let _ = write!(
            s,
            r##"<text x="{x0}" y="{:.1}" font-size="14" font-weight="bold">{title}</text>
<rect x="{x0}" y="{y0}" width="{:.1}" height="{PANEL}" fill="none" stroke="#444"/>
"##,
            y0 - 8.0,
            x1 - x0
        );
        for &(v, label) in ticks {
            let y = self.y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{label}</text>"##,
                x0 - 5.0,
                y + 4.0
            );
        }
        let mut t = 0.0;
        while t <= self.duration + 1e-9 {
            let x = self.x(t);
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{t:.0}</text>"##,
                y1 + 14.0
            );
            t += if self.duration > 80.0 { 10.0 } else { 5.0 };
        }
        for &p in phases {
            let x = self.x(p);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="#888" stroke-dasharray="2,3"/>"##
            );
        }
        self.svg.push_str(&s);
    }

    /// A polyline through `points`; `None` breaks the line.
    fn line(&mut self, points: &[Option<(f64, f64)>], (stroke, dash): (&str, &str)) {
        let mut segment = String::new();
        let flush = |seg: &mut String, svg: &mut String| {
            if !seg.is_empty() {
                let _ = writeln!(
                    svg,
                    r#"<polyline fill="none" stroke="{stroke}" stroke-width="1.4" stroke-dasharray="{dash}" points="{seg}"/>"#
                );
                seg.clear();
            }
        };
        let value = |i: usize| points.get(i).copied().flatten().map(|p| p.1);
        for (i, p) in points.iter().enumerate() {
            match p {
                // A point between two of the same value adds nothing to the line.
                Some((_, v)) if i > 0 && value(i - 1) == Some(*v) && value(i + 1) == Some(*v) => {}
                Some((t, v)) => {
                    let _ = write!(segment, "{:.1},{:.1} ", self.x(*t), self.y(*v));
                }
                None => flush(&mut segment, self.svg),
            }
        }
        flush(&mut segment, self.svg);
    }
}

/// A line's points: `(time, value)`, `None` for a gap.
type Points = Vec<Option<(f64, f64)>>;

/// A panel: title, y scale, y ticks.
type PanelSpec<'a> = (&'a str, Scale, &'a [(f64, &'a str)]);

/// Per 1 s bucket: the p99 latency of successful calls (request latency,
/// or from arrival with `e2e`), and their count.
fn buckets(run: &Run, duration: f64, e2e: bool) -> (Points, Points) {
    let n = duration.ceil() as usize;
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); n];
    for c in &run.calls {
        if c.response == Response::Ok {
            if let Some(b) = lat.get_mut(c.done as usize) {
                b.push(if e2e { c.e2e } else { c.latency });
            }
        }
    }
    let mut p99 = Vec::new();
    let mut goodput = Vec::new();
    for (i, mut b) in lat.into_iter().enumerate() {
        let t = i as f64 + 0.5;
        goodput.push(Some((t, b.len() as f64)));
        if b.is_empty() {
            p99.push(None);
        } else {
            b.sort_by(f64::total_cmp);
            let rank = ((0.99 * b.len() as f64).ceil() as usize).clamp(1, b.len());
            p99.push(Some((t, b[rank - 1])));
        }
    }
    (p99, goodput)
}

/// Writes `<dir>/<workload>.svg` from `runs` (one per contender, all of
/// `seed`).
pub fn write(
    dir: &Path,
    workload: &Workload,
    contenders: &[Contender],
    runs: &[&Run],
    seed: u64,
) -> std::io::Result<PathBuf> {
    let d = workload.duration;
    // Arrivals over time (not a batch): also the latency from arrival.
    let open = workload.batch == 0;
    let count = if open { 5.0 } else { 4.0 };
    let height = TOP + count * (PANEL + GAP) + 10.0;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="22" font-size="16">{} — {} (seed {seed}; time in s)</text>
"##,
        workload.name, workload.title
    );
    let phases: Vec<f64> = workload.phases.iter().skip(1).map(|p| p.start).collect();
    let max_goodput = runs
        .iter()
        .map(|r| {
            buckets(r, d, false)
                .1
                .iter()
                .flatten()
                .map(|p| p.1)
                .fold(0.0, f64::max)
        })
        .fold(10.0, f64::max);
    let top_goodput = (max_goodput / 50.0).ceil() * 50.0;
    let g_ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| {
            let v = top_goodput * f64::from(i) / 4.0;
            (v, format!("{v:.0}"))
        })
        .collect();
    let g_ticks: Vec<(f64, &str)> = g_ticks.iter().map(|(v, s)| (*v, s.as_str())).collect();
    let log2 = [
        (1.0, "1"),
        (2.0, "2"),
        (4.0, "4"),
        (8.0, "8"),
        (16.0, "16"),
        (32.0, "32"),
        (64.0, "64"),
        (128.0, "128"),
    ];
    let mut panels: Vec<PanelSpec<'_>> = vec![
        (
            "pool limit (log scale; oracle = true capacity)",
            Scale::Log(1.0, 128.0),
            &log2,
        ),
        (
            "requests in the server (abandoned ones included; log scale)",
            Scale::Log(1.0, 128.0),
            &log2,
        ),
        (
            "p99 latency of successful requests per 1 s, ms (log scale)",
            Scale::Log(0.02, 2.0),
            &[
                (0.02, "20"),
                (0.05, "50"),
                (0.1, "100"),
                (0.2, "200"),
                (0.5, "500"),
                (1.0, "1000"),
                (2.0, "2000"),
            ],
        ),
        (
            "goodput, successful calls per 1 s",
            Scale::Linear(0.0, top_goodput),
            &g_ticks,
        ),
    ];
    let e2e_ticks = [
        (0.02, "0.02"),
        (0.1, "0.1"),
        (0.5, "0.5"),
        (2.0, "2"),
        (10.0, "10"),
        (60.0, "60"),
    ];
    if open {
        panels.push((
            "p99 latency of successful calls from arrival (pool wait included) per 1 s, s (log scale)",
            Scale::Log(0.02, 60.0),
            &e2e_ticks,
        ));
    }
    for (k, (title, scale, ticks)) in panels.iter().enumerate() {
        let mut panel = Panel {
            svg: &mut svg,
            top: TOP + k as f64 * (PANEL + GAP) + 14.0,
            duration: d,
            scale: *scale,
        };
        panel.frame(title, ticks, &phases);
        for (i, (c, run)) in contenders.iter().zip(runs).enumerate() {
            let style = colour(&c.policy, i);
            let points: Points = match k {
                0 => run
                    .trace
                    .iter()
                    .map(|s| s.limit.map(|l| (s.t, l as f64)))
                    .collect(),
                1 => run
                    .trace
                    .iter()
                    .map(|s| Some((s.t, (s.in_flight as f64).max(1.0))))
                    .collect(),
                2 => buckets(run, d, false).0,
                3 => buckets(run, d, false).1,
                _ => buckets(run, d, true).0,
            };
            panel.line(&points, style);
        }
    }
    // Legend.
    for (i, c) in contenders.iter().enumerate() {
        let (stroke, dash) = colour(&c.policy, i);
        let x = WIDTH - RIGHT + 14.0;
        let y = TOP + 30.0 + 20.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{stroke}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            x + 22.0,
            x + 28.0,
            y + 4.0,
            c.name
        );
    }
    svg.push_str("</svg>\n");
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.svg", workload.name.to_lowercase()));
    std::fs::write(&path, svg)?;
    Ok(path)
}
