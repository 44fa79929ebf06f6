//! Run records: what `loadgen run` prints and saves, and what `show` and
//! `diff` read back. The JSON schema is versioned (`schema`); histograms are
//! stored whole (HdrHistogram V2, deflated, base64) so runs can be merged
//! and re-analysed later.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::measure::steps::{decode_histogram, encode_histogram, ErrorKind, StepStats};
use crate::scenario::threshold::LatencyStat;
use crate::scenario::{Arrivals, Shard};

pub const SCHEMA: &str = "stackbench.run/4";

/// Who answered: recorded with every run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    /// `hyper`, `axum`, `actix`, or `external` for a URL.
    pub server: String,
    pub driver: Option<String>,
    /// The binary's `--version`, when loadgen started it.
    pub version: Option<String>,
    pub url: String,
}

/// The server's own cost, from `/proc`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct ProcessUsage {
    /// User + system CPU seconds (in a run record: over the measured window).
    pub cpu_seconds: f64,
    /// Peak resident memory (VmHWM), bytes.
    pub peak_rss_bytes: u64,
}

/// What every saved record (a run, a comparison, a gate) starts with:
/// what it is, what ran, on which machine, from which commit, when, and
/// the command that made it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// The record's kind and version (`stackbench.run/4`), bumped on an
    /// incompatible change.
    pub schema: String,
    pub scenario: String,
    pub machine: Machine,
    pub git_commit: Option<String>,
    pub started_at: String,
    pub command: String,
}

impl Header {
    /// A header for a record of `schema` about `scenario`, started now.
    pub fn now(schema: &str, scenario: &str) -> Header {
        Header {
            schema: schema.to_string(),
            scenario: scenario.to_string(),
            machine: machine(),
            git_commit: git_commit(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }
}

/// Writes a record as indented JSON, making its directory if need be.
pub fn save<T: Serialize>(record: &T, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(record)?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

/// Reads back a record of one of `schemas`, the versions this loadgen
/// reads (`what` names it in errors). The schema is checked before the
/// rest, so an older record is refused for its version rather than for a
/// field it lacks.
pub fn read<T: DeserializeOwned>(path: &Path, schemas: &[&str], what: &str) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    from_json(&bytes, schemas, what).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A record of one of `schemas` from its JSON, the schema checked first as
/// [`read`] does.
pub fn from_json<T: DeserializeOwned>(
    json: &[u8],
    schemas: &[&str],
    what: &str,
) -> Result<T, String> {
    let json: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("not JSON ({e}), so not {what}"))?;
    match json.get("schema").and_then(|s| s.as_str()) {
        Some(found) if schemas.contains(&found) => {}
        Some(found) => {
            return Err(format!(
                "schema {found:?}; this loadgen reads {} ({what})",
                schemas.join(" or ")
            ))
        }
        None => return Err(format!("no schema: it is not {what}")),
    }
    serde_json::from_value(json).map_err(|e| format!("not {what}: {e}"))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(flatten)]
    pub header: Header,
    pub scenario_file: String,
    /// The SHA-256 of the scenario's text (absent in older records).
    #[serde(default)]
    pub scenario_sha256: String,
    pub config: RunConfig,
    pub target: Identity,
    /// Seconds of the counted part of the run.
    pub measured_seconds: f64,
    pub total: Tally,
    pub endpoints: Vec<Endpoint>,
    /// Per second, from the start (warm-up included) to the grace period.
    pub timeline: Vec<Second>,
    pub open_model: Option<OpenModel>,
    pub generator: Generator,
    /// Whether the figures are the server's: an invalid run's generator fell
    /// behind for its own reasons, and its thresholds are not judged.
    pub validity: Validity,
    /// Counted requests in flight when the time was up.
    pub in_flight_at_end: u64,
    /// How long those were still waited for (their timeout, at most 2 s).
    pub grace_seconds: f64,
    pub reconnects: u64,
    pub warmup_requests: u64,
    /// A server loadgen started: its CPU over the measured window, and its peak RSS.
    pub server_usage: Option<ProcessUsage>,
    /// The share of the machine's CPU time, percent, that the hypervisor
    /// gave to others over the measured window (steal in `/proc/stat`);
    /// absent in records from before it was measured.
    #[serde(default)]
    pub steal_percent: Option<f64>,
    pub thresholds: Vec<ThresholdResult>,
    /// A record `loadgen merge` made of the shards of one run: each shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<Merged>,
}

/// A run split across generators (`loadgen run --shard I/N`): which part
/// this generator sent, from when. Every shard of one run has the same
/// load, seed, start and thresholds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardPlan {
    #[serde(flatten)]
    pub shard: Shard,
    /// The shared start (the warm-up's first instant).
    pub start_at: chrono::DateTime<chrono::Utc>,
    /// The thresholds `loadgen merge` judges on the merged figures (a
    /// shard's own figures are a part of the run, and judge nothing).
    pub thresholds: Vec<String>,
}

/// What a merged record says of the shards it was made of.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Merged {
    /// The shared start.
    pub start_at: chrono::DateTime<chrono::Utc>,
    /// Between the first and the last shard to start sending, each by its
    /// own clock, microseconds.
    pub start_skew_us: u64,
    pub shards: Vec<MergedShard>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergedShard {
    pub index: u32,
    /// Where its record came from: a file, or a line of a log.
    pub origin: String,
    pub hostname: String,
    /// How long after the shared start it began sending, by its clock.
    pub start_lag_us: u64,
    /// Its counted requests.
    pub requests: u64,
    pub validity: Validity,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    /// `closed` or `open`.
    pub model: String,
    pub connections: Option<u32>,
    pub rate: Option<f64>,
    pub max_inflight: Option<u32>,
    /// How the open model spaced its requests.
    pub arrivals: Option<Arrivals>,
    pub duration_seconds: f64,
    pub warmup_seconds: f64,
    pub timeout_seconds: f64,
    /// `DURATION:TARGET,...` when stages replaced the constant load.
    pub stages: Option<String>,
    /// What the stage targets are: `connections` or `req/s`.
    pub stage_unit: Option<String>,
    pub threads: usize,
    pub seed: u64,
    pub reset: bool,
    /// How far behind the generator may fall before the run is invalid.
    pub generator_tolerance: GeneratorTolerance,
    /// The part of a split run this generator sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardPlan>,
}

/// A run is invalid when more than `share` of its requests went out more
/// than `late_by_us` after a connection was free for them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct GeneratorTolerance {
    pub late_by_us: u64,
    /// A fraction (0.01 = 1%).
    pub share: f64,
}

impl Default for GeneratorTolerance {
    fn default() -> GeneratorTolerance {
        GeneratorTolerance {
            late_by_us: 1_000,
            share: 0.01,
        }
    }
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
    pub figures: Tally,
}

/// A step's figures, or the total's. `requests` counts every request
/// planned (open model) or started (closed model) in the measured window,
/// whatever became of it; the latency histogram holds each of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tally {
    pub requests: u64,
    /// Answered, with any status.
    pub responses: u64,
    /// Answered with the expected status, passing the step's checks.
    pub successes: u64,
    /// Successes per second of the measured window.
    pub rps: f64,
    /// Requests per second of the measured window, failed ones included.
    pub attempted_rps: f64,
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Errors of every kind over requests.
    pub error_rate: f64,
    pub statuses: BTreeMap<u16, u64>,
    /// From the planned send time to the end of every request (the open
    /// model's schedule; the send itself in the closed model).
    pub latency: Latency,
    /// From the actual send to the response, answered requests only: what
    /// the server took, without time queued in the generator.
    pub service_time: Latency,
    pub latency_histogram: String,
    pub service_time_histogram: String,
}

/// One second of the run's timeline (warm-up included), for seeing a stall
/// or a slow leak that the totals average away.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// Seconds since the start; the entry after the last second holds what
    /// ended in the grace period.
    pub second: u64,
    pub warmup: bool,
    /// Requests that ended in this second with success.
    pub successes: u64,
    /// Requests that ended in this second, failed ones included.
    pub completed: u64,
    pub errors: u64,
    /// Requests in flight at the end of the second.
    pub in_flight: u64,
    /// Of the requests that ended in this second, from their plan.
    pub p50_us: u64,
    pub p99_us: u64,
    /// Their latencies (2 significant digits), so that the seconds of
    /// several shards add up exactly (absent in older records).
    #[serde(default)]
    pub latency_histogram: String,
}

/// Microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
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

/// A percentile a [`Latency`] keeps, and where.
type Kept = (f64, fn(&Latency) -> u64);

/// The percentiles a [`Latency`] keeps.
const KEPT: [Kept; 5] = [
    (50.0, |l| l.p50_us),
    (90.0, |l| l.p90_us),
    (99.0, |l| l.p99_us),
    (99.9, |l| l.p99_9_us),
    (99.99, |l| l.p99_99_us),
];

impl Latency {
    /// A statistic of the summary, µs, when it keeps it: the mean, the
    /// maximum, p50, p90, p99, p99.9 and p99.99.
    pub fn statistic(&self, stat: LatencyStat) -> Option<f64> {
        match stat {
            LatencyStat::Mean => Some(self.mean_us),
            LatencyStat::Max => Some(self.max_us as f64),
            LatencyStat::Percentile(p) => (KEPT.iter())
                .find(|(kept, _)| *kept == p)
                .map(|(_, of)| of(self) as f64),
        }
    }

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
    /// Requests the generator itself sent more than 1 ms late: a connection
    /// was free, but the pacer woke late or its thread was not running.
    pub own_late_sends: u64,
    pub own_lateness_p99_us: u64,
    pub own_lateness_max_us: u64,
    /// Planned requests never sent: every connection (`max_inflight`) was
    /// busy until the end. They are in the figures as `unanswered`.
    pub unsent: u64,
    /// Both lateness histograms whole, for merging (absent in older records).
    #[serde(default)]
    pub lateness_histogram: String,
    #[serde(default)]
    pub own_lateness_histogram: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generator {
    /// CPU use of each worker thread over the run, percent of one core.
    pub thread_cpu_percent: Vec<f64>,
    /// loadgen's own CPU time (all worker threads) per request sent,
    /// warm-up included: what the generator costs, model against model.
    pub cpu_us_per_request: f64,
    /// How loadgen's worker threads were scheduled: in real time where
    /// they could be, ahead of the server and PostgreSQL (the lowest any
    /// thread got, if they differ).
    pub priority: Priority,
    /// How long after the planned start the last worker thread began.
    #[serde(default)]
    pub start_lag_us: u64,
    pub warnings: Vec<String>,
}

/// How a generator thread was scheduled.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// SCHED_FIFO: it runs as soon as it wakes, ahead of every ordinary process.
    Realtime,
    /// An ordinary thread at this nice value.
    Nice(i32),
}

impl Priority {
    /// The lower of two: real time is above any nice value, and a lower
    /// nice value above a higher one.
    pub fn lower(self, other: Priority) -> Priority {
        match (self, other) {
            (Priority::Realtime, other) | (other, Priority::Realtime) => other,
            (Priority::Nice(a), Priority::Nice(b)) => Priority::Nice(a.max(b)),
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Priority::Realtime => write!(f, "real-time"),
            Priority::Nice(nice) => write!(f, "nice {nice}"),
        }
    }
}

/// Whether a run measured the server and not its own generator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Validity {
    pub valid: bool,
    /// Why not, one sentence each, naming the generator.
    pub reasons: Vec<String>,
}

impl Validity {
    pub fn of(reasons: Vec<String>) -> Validity {
        Validity {
            valid: reasons.is_empty(),
            reasons,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub threshold: String,
    pub observed: String,
    pub pass: bool,
}

impl Tally {
    pub fn of(stats: &StepStats, seconds: f64) -> Tally {
        let requests = stats.requests();
        let errors: BTreeMap<ErrorKind, u64> = ErrorKind::ALL
            .iter()
            .filter(|kind| stats.errors[**kind as usize] > 0)
            .map(|kind| (*kind, stats.errors[*kind as usize]))
            .collect();
        let per_second = |count: u64| {
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        Tally {
            requests,
            responses: stats.responses(),
            successes: stats.successes(),
            rps: per_second(stats.successes()),
            attempted_rps: per_second(requests),
            error_rate: if requests > 0 {
                stats.error_count() as f64 / requests as f64
            } else {
                0.0
            },
            errors,
            statuses: stats.statuses.clone(),
            latency: Latency::of(&stats.latency),
            service_time: Latency::of(&stats.service),
            latency_histogram: encode_histogram(&stats.latency),
            service_time_histogram: encode_histogram(&stats.service),
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn histogram(&self) -> Result<Histogram<u64>, String> {
        decode_histogram(&self.latency_histogram)
    }

    /// The figures it was made from, back: [`Tally::of`] of them gives it again.
    pub fn stats(&self) -> Result<StepStats, String> {
        let mut stats = StepStats {
            latency: decode_histogram(&self.latency_histogram)?,
            service: decode_histogram(&self.service_time_histogram)?,
            statuses: self.statuses.clone(),
            ..StepStats::default()
        };
        for (kind, count) in &self.errors {
            stats.errors[*kind as usize] = *count;
        }
        Ok(stats)
    }
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

/// The commit this binary was built from (`-dirty` when tracked files had
/// uncommitted changes), embedded by build.rs; None when built outside git.
pub fn git_commit() -> Option<String> {
    option_env!("STACKBENCH_GIT_COMMIT").map(str::to_string)
}
