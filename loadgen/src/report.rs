//! Run records: what `loadgen run` prints and saves, and what `show` and
//! `diff` read back. The JSON schema is versioned (`schema`); histograms are
//! stored whole (HdrHistogram V2, deflated, base64) so runs can be merged
//! and re-analysed later.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use comfy_table::{presets, Cell, CellAlignment, Table};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::{decode_histogram, encode_histogram, ErrorKind, StepStats};
use crate::target::{Identity, ProcessUsage};

pub const SCHEMA: &str = "stackbench.run/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// `stackbench.run/1`: bump on an incompatible change.
    pub schema: String,
    pub scenario: String,
    pub scenario_file: String,
    pub config: RunConfig,
    pub target: Identity,
    pub machine: Machine,
    pub git_commit: Option<String>,
    pub started_at: String,
    /// Seconds of the counted part of the run.
    pub measured_seconds: f64,
    pub total: Figures,
    pub endpoints: Vec<Endpoint>,
    pub open_model: Option<OpenModel>,
    pub generator: Generator,
    pub in_flight_at_end: u64,
    pub reconnects: u64,
    pub warmup_requests: u64,
    pub server_usage: Option<ProcessUsage>,
    pub thresholds: Vec<ThresholdResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    /// `closed` or `open`.
    pub model: String,
    pub connections: Option<u32>,
    pub rate: Option<f64>,
    pub max_inflight: Option<u32>,
    pub duration_seconds: f64,
    pub warmup_seconds: f64,
    pub timeout_seconds: f64,
    pub stages: Option<String>,
    pub threads: usize,
    pub seed: u64,
    pub reset: bool,
    pub command: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    pub memory_bytes: u64,
    pub hostname: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    pub requests: u64,
    pub responses: u64,
    pub rps: f64,
    pub errors: BTreeMap<ErrorKind, u64>,
    pub error_rate: f64,
    pub statuses: BTreeMap<u16, u64>,
    /// From the planned send time (open model); the same as `uncorrected` in the closed model.
    pub latency: Latency,
    pub uncorrected: Latency,
    pub latency_histogram: String,
    pub uncorrected_histogram: String,
}

/// Microseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub mean_us: f64,
    pub stdev_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p99_9_us: u64,
    pub p99_99_us: u64,
    pub max_us: u64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        let q = |quantile| histogram.value_at_quantile(quantile);
        Latency {
            mean_us: histogram.mean(),
            stdev_us: histogram.stdev(),
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p99_9_us: q(0.999),
            p99_99_us: q(0.9999),
            max_us: histogram.max(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenModel {
    pub target_rate: f64,
    pub achieved_rate: f64,
    /// Requests sent more than 1 ms after their planned time.
    pub late_sends: u64,
    pub lateness_p50_us: u64,
    pub lateness_p99_us: u64,
    pub lateness_max_us: u64,
    /// Planned requests never sent: every connection (`max_inflight`) was busy.
    pub unsent: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generator {
    /// CPU use of each worker thread over the run, percent of one core.
    pub thread_cpu_percent: Vec<f64>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub threshold: String,
    pub observed: String,
    pub pass: bool,
}

impl Figures {
    pub fn of(stats: &StepStats, seconds: f64) -> Figures {
        let requests = stats.requests();
        let errors: BTreeMap<ErrorKind, u64> = ErrorKind::ALL
            .iter()
            .filter(|kind| stats.errors[**kind as usize] > 0)
            .map(|kind| (*kind, stats.errors[*kind as usize]))
            .collect();
        Figures {
            requests,
            responses: stats.responses(),
            rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            error_rate: if requests > 0 {
                stats.error_count() as f64 / requests as f64
            } else {
                0.0
            },
            errors,
            statuses: stats.statuses.clone(),
            latency: Latency::of(&stats.corrected),
            uncorrected: Latency::of(&stats.uncorrected),
            latency_histogram: encode_histogram(&stats.corrected),
            uncorrected_histogram: encode_histogram(&stats.uncorrected),
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn histogram(&self) -> Result<Histogram<u64>, String> {
        decode_histogram(&self.latency_histogram)
    }
}

/// `1.23ms`, `850µs`, `2.10s`.
pub fn format_us(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2}s", us / 1e6)
    } else if us >= 1_000.0 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{us:.0}µs")
    }
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for column in table.column_iter_mut().skip(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    table
}

fn latency_row(name: &str, figures: &Figures, latency: &Latency) -> Vec<Cell> {
    let mut row = vec![
        Cell::new(name),
        Cell::new(figures.requests),
        Cell::new(format!("{:.1}", figures.rps)),
        Cell::new(figures.error_count()),
    ];
    for value in [latency.mean_us, latency.stdev_us] {
        row.push(Cell::new(format_us(value)));
    }
    for value in [
        latency.p50_us,
        latency.p90_us,
        latency.p99_us,
        latency.p99_9_us,
        latency.p99_99_us,
        latency.max_us,
    ] {
        row.push(Cell::new(format_us(value as f64)));
    }
    row
}

const LATENCY_HEADER: [&str; 12] = [
    "endpoint", "requests", "req/s", "errors", "mean", "stdev", "p50", "p90", "p99", "p99.9",
    "p99.99", "max",
];

impl RunRecord {
    /// The human report: tables per endpoint and in total, status codes and
    /// errors, the open model's pacing, the generator's self-checks.
    pub fn render(&self, full_distribution: bool) -> String {
        let mut out = String::new();
        let target = match (&self.target.driver, &self.target.version) {
            (Some(driver), _) => {
                format!("{} on {driver} ({})", self.target.server, self.target.url)
            }
            (None, _) => self.target.url.clone(),
        };
        let _ = writeln!(
            out,
            "scenario {} against {target}: {} model, {:.1} s measured after {:.1} s warm-up, {} threads",
            self.scenario, self.config.model, self.measured_seconds, self.config.warmup_seconds, self.config.threads
        );
        let open = self.config.model == "open";
        let mut latency = table(&LATENCY_HEADER);
        for endpoint in &self.endpoints {
            latency.add_row(latency_row(
                &endpoint.name,
                &endpoint.figures,
                &endpoint.figures.latency,
            ));
        }
        latency.add_row(latency_row("total", &self.total, &self.total.latency));
        let title = if open {
            "latency from the planned send time (coordinated omission corrected)"
        } else {
            "latency"
        };
        let _ = writeln!(out, "\n{title}\n{latency}");
        if open {
            let mut uncorrected = table(&LATENCY_HEADER);
            for endpoint in &self.endpoints {
                uncorrected.add_row(latency_row(
                    &endpoint.name,
                    &endpoint.figures,
                    &endpoint.figures.uncorrected,
                ));
            }
            uncorrected.add_row(latency_row("total", &self.total, &self.total.uncorrected));
            let _ = writeln!(
                out,
                "\nservice time from the actual send (uncorrected; hides queueing)\n{uncorrected}"
            );
        }
        let mut outcomes = table(&["endpoint", "status codes", "errors by kind", "error rate"]);
        for (name, figures) in self
            .endpoints
            .iter()
            .map(|e| (e.name.as_str(), &e.figures))
            .chain([("total", &self.total)])
        {
            let statuses: Vec<String> = figures
                .statuses
                .iter()
                .map(|(code, n)| format!("{code}: {n}"))
                .collect();
            let errors: Vec<String> = figures
                .errors
                .iter()
                .map(|(kind, n)| format!("{}: {n}", kind.name()))
                .collect();
            outcomes.add_row(vec![
                Cell::new(name),
                Cell::new(statuses.join(", ")),
                Cell::new(if errors.is_empty() {
                    "-".to_string()
                } else {
                    errors.join(", ")
                }),
                Cell::new(format!("{:.3}%", figures.error_rate * 100.0)),
            ]);
        }
        let _ = writeln!(out, "\n{outcomes}");
        if let Some(open) = &self.open_model {
            let _ = writeln!(
                out,
                "rate: achieved {:.1} req/s of {:.1} target ({:.1}%); {} sent late (>1 ms; lateness p50 {}, p99 {}, max {}); {} never sent (all {} connections busy)",
                open.achieved_rate,
                open.target_rate,
                100.0 * open.achieved_rate / open.target_rate,
                open.late_sends,
                format_us(open.lateness_p50_us as f64),
                format_us(open.lateness_p99_us as f64),
                format_us(open.lateness_max_us as f64),
                open.unsent,
                self.config.max_inflight.unwrap_or(0),
            );
        }
        let _ = writeln!(
            out,
            "in flight at the end: {}; reconnects: {}; warm-up requests (not counted): {}",
            self.in_flight_at_end, self.reconnects, self.warmup_requests
        );
        let cpu: Vec<String> = self
            .generator
            .thread_cpu_percent
            .iter()
            .map(|p| format!("{p:.0}%"))
            .collect();
        let _ = writeln!(out, "generator CPU per thread: {}", cpu.join(" "));
        if let Some(usage) = &self.server_usage {
            let _ = writeln!(
                out,
                "server: {:.2} CPU-s, {:.1} CPU-ms per 1000 requests, peak RSS {:.1} MiB",
                usage.cpu_seconds,
                1e6 * usage.cpu_seconds / self.total.requests.max(1) as f64,
                usage.peak_rss_bytes as f64 / 1048576.0
            );
        }
        for warning in &self.generator.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        for threshold in &self.thresholds {
            let verdict = if threshold.pass { "pass" } else { "FAIL" };
            let _ = writeln!(
                out,
                "threshold {verdict}: {} (observed {})",
                threshold.threshold, threshold.observed
            );
        }
        if full_distribution {
            match self.total.histogram() {
                Ok(histogram) => out.push_str(&percentile_distribution(&histogram)),
                Err(error) => {
                    let _ = writeln!(out, "(no distribution: {error})");
                }
            }
        }
        out
    }
}

/// The percentile distribution in HdrHistogram's text layout (values in ms).
pub fn percentile_distribution(histogram: &Histogram<u64>) -> String {
    let mut out = String::from("\n       Value   Percentile   TotalCount 1/(1-Percentile)\n\n");
    for value in histogram.iter_quantiles(5) {
        let quantile = value.quantile_iterated_to();
        let inverse = if quantile < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - quantile))
        } else {
            "inf".into()
        };
        let _ = writeln!(
            out,
            "{:12.3} {:12.6} {:12} {:>14}",
            value.value_iterated_to() as f64 / 1000.0,
            quantile,
            value.count_since_last_iteration(),
            inverse
        );
    }
    let _ = writeln!(
        out,
        "#[Mean = {:.3}, StdDeviation = {:.3}]\n#[Max = {:.3}, Total count = {}]",
        histogram.mean() / 1000.0,
        histogram.stdev() / 1000.0,
        histogram.max() as f64 / 1000.0,
        histogram.len()
    );
    out
}

/// Two runs side by side, with the change of each figure.
pub fn diff(a: &RunRecord, b: &RunRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "A: {} on {} ({}, {})",
        a.scenario, a.target.url, a.target.server, a.started_at
    );
    let _ = writeln!(
        out,
        "B: {} on {} ({}, {})",
        b.scenario, b.target.url, b.target.server, b.started_at
    );
    if a.config != b.config {
        let _ = writeln!(
            out,
            "note: the runs' configurations differ; compare with care"
        );
    }
    let mut t = table(&["figure", "A", "B", "change"]);
    let change = |x: f64, y: f64| {
        if x == 0.0 {
            "-".to_string()
        } else {
            format!("{:+.1}%", 100.0 * (y - x) / x)
        }
    };
    let mut row = |name: &str, x: f64, y: f64, format: &dyn Fn(f64) -> String| {
        t.add_row(vec![
            Cell::new(name),
            Cell::new(format(x)),
            Cell::new(format(y)),
            Cell::new(change(x, y)),
        ]);
    };
    let count = |v: f64| format!("{v:.0}");
    let rate = |v: f64| format!("{v:.1}");
    let (x, y) = (&a.total, &b.total);
    row("requests", x.requests as f64, y.requests as f64, &count);
    row("req/s", x.rps, y.rps, &rate);
    row(
        "errors",
        x.error_count() as f64,
        y.error_count() as f64,
        &count,
    );
    let pairs = [
        ("mean", x.latency.mean_us, y.latency.mean_us),
        ("p50", x.latency.p50_us as f64, y.latency.p50_us as f64),
        ("p90", x.latency.p90_us as f64, y.latency.p90_us as f64),
        ("p99", x.latency.p99_us as f64, y.latency.p99_us as f64),
        (
            "p99.9",
            x.latency.p99_9_us as f64,
            y.latency.p99_9_us as f64,
        ),
        (
            "p99.99",
            x.latency.p99_99_us as f64,
            y.latency.p99_99_us as f64,
        ),
        ("max", x.latency.max_us as f64, y.latency.max_us as f64),
    ];
    for (name, p, q) in pairs {
        row(name, p, q, &format_us);
    }
    for endpoint in &a.endpoints {
        if let Some(other) = b.endpoints.iter().find(|e| e.name == endpoint.name) {
            row(
                &format!("{} req/s", endpoint.name),
                endpoint.figures.rps,
                other.figures.rps,
                &rate,
            );
            row(
                &format!("{} p99", endpoint.name),
                endpoint.figures.latency.p99_us as f64,
                other.figures.latency.p99_us as f64,
                &format_us,
            );
        }
    }
    let _ = writeln!(out, "{t}");
    out
}

/// What machine this is, for the record.
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let uname = nix::sys::utsname::uname().ok();
    Machine {
        cpu_model,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: uname
            .as_ref()
            .map_or_else(String::new, |u| u.release().to_string_lossy().into_owned()),
        memory_bytes,
        hostname: uname
            .as_ref()
            .map_or_else(String::new, |u| u.nodename().to_string_lossy().into_owned()),
    }
}

/// The commit of the checkout this binary was run in, if any.
pub fn git_commit() -> Option<String> {
    let workspace = crate::workspace_dir();
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(workspace)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
