//! A comparison's record: which stacks ran, every run of every round, and
//! the summary with its verdicts.

use serde::{Deserialize, Serialize};

use crate::measure::record::{Machine, RunRecord};
use crate::measure::statistics::median;

pub const SCHEMA: &str = "stackbench.compare/1";

/// A server on a driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    pub server: String,
    pub driver: String,
}

impl Stack {
    pub fn name(&self) -> String {
        format!("{}+{}", self.server, self.driver)
    }
}

/// One measured run of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareRun {
    pub round: u32,
    /// `throughput` (closed model) or `latency` (open model at an equal rate).
    pub phase: String,
    pub stack: Stack,
    pub record: RunRecord,
    /// Server CPU seconds over the run (warm-up included), and its peak RSS.
    pub server_cpu_seconds: f64,
    pub server_peak_rss_bytes: u64,
    /// Requests the server answered over the same time (warm-up included).
    pub server_requests: u64,
}

/// Per stack, the figures of the summary table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackSummary {
    pub stack: Stack,
    pub rps_median: f64,
    pub rps_min: f64,
    pub rps_max: f64,
    /// From the latency phase (or the throughput phase when it was skipped), µs.
    pub p50_us: u64,
    pub p99_us: u64,
    pub p99_9_us: u64,
    pub errors: u64,
    pub cpu_ms_per_1000: f64,
    pub peak_rss_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub schema: String,
    pub scenario: String,
    pub machine: Machine,
    pub git_commit: Option<String>,
    pub started_at: String,
    pub command: String,
    pub rounds: u32,
    /// The order runs happened in: `round phase stack`.
    pub order: Vec<String>,
    pub latency_rate: Option<f64>,
    pub pinning: Pinning,
    pub runs: Vec<CompareRun>,
    pub summary: Vec<StackSummary>,
    pub verdict: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pinning {
    pub server: Option<Vec<usize>>,
    pub loadgen: Option<Vec<usize>>,
    pub db: Option<Vec<usize>>,
}

pub fn summarize(stacks: &[Stack], runs: &[CompareRun], latency_phase: bool) -> Vec<StackSummary> {
    stacks
        .iter()
        .map(|stack| {
            let mine: Vec<&CompareRun> = runs.iter().filter(|run| run.stack == *stack).collect();
            let mut rps: Vec<f64> = mine
                .iter()
                .filter(|r| r.phase == "throughput")
                .map(|r| r.record.total.rps)
                .collect();
            let latency_phase_name = if latency_phase {
                "latency"
            } else {
                "throughput"
            };
            let mut latency = crate::measure::stats::new_histogram();
            for run in mine.iter().filter(|r| r.phase == latency_phase_name) {
                if let Ok(histogram) = run.record.total.histogram() {
                    latency.add(&histogram).expect("same bounds");
                }
            }
            let cpu: f64 = mine.iter().map(|r| r.server_cpu_seconds).sum();
            let requests: u64 = mine.iter().map(|r| r.server_requests).sum();
            StackSummary {
                stack: stack.clone(),
                rps_min: rps.iter().cloned().fold(f64::INFINITY, f64::min),
                rps_max: rps.iter().cloned().fold(0.0, f64::max),
                rps_median: median(&mut rps),
                p50_us: latency.value_at_quantile(0.5),
                p99_us: latency.value_at_quantile(0.99),
                p99_9_us: latency.value_at_quantile(0.999),
                errors: mine.iter().map(|r| r.record.total.error_count()).sum(),
                cpu_ms_per_1000: if requests > 0 {
                    1e6 * cpu / requests as f64
                } else {
                    0.0
                },
                peak_rss_bytes: mine
                    .iter()
                    .map(|r| r.server_peak_rss_bytes)
                    .max()
                    .unwrap_or(0),
            }
        })
        .collect()
}

/// Who is fastest, by how much, and whether that is beyond the noise: the
/// difference counts only when the rounds' ranges do not overlap.
pub fn verdict(summary: &[StackSummary]) -> String {
    let mut ranked: Vec<&StackSummary> = summary.iter().collect();
    ranked.sort_by(|a, b| b.rps_median.total_cmp(&a.rps_median));
    match ranked.as_slice() {
        [] => "no stacks".into(),
        [only] => format!(
            "{}: {:.1} req/s (median)",
            only.stack.name(),
            only.rps_median
        ),
        [best, second, ..] => {
            let ratio = best.rps_median / second.rps_median.max(1e-9);
            if best.rps_min <= second.rps_max {
                format!(
                    "{} and {} are within the noise of the rounds ({:.2}x, overlapping min-max); run more rounds to separate them",
                    best.stack.name(),
                    second.stack.name(),
                    ratio
                )
            } else {
                format!(
                    "{} is fastest: {:.2}x the throughput of {} (median of rounds; every round of it beat every round of the other)",
                    best.stack.name(),
                    ratio,
                    second.stack.name()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str, rps: [f64; 3]) -> StackSummary {
        StackSummary {
            stack: Stack {
                server: name.into(),
                driver: "d".into(),
            },
            rps_median: rps[1],
            rps_min: rps[0],
            rps_max: rps[2],
            p50_us: 1,
            p99_us: 2,
            p99_9_us: 3,
            errors: 0,
            cpu_ms_per_1000: 1.0,
            peak_rss_bytes: 1,
        }
    }

    #[test]
    fn the_verdict_says_when_differences_are_noise() {
        let clear = verdict(&[
            summary("a", [90.0, 100.0, 110.0]),
            summary("b", [120.0, 130.0, 140.0]),
        ]);
        assert!(clear.starts_with("b+d is fastest: 1.30x"), "{clear}");
        let noisy = verdict(&[
            summary("a", [90.0, 100.0, 125.0]),
            summary("b", [120.0, 130.0, 140.0]),
        ]);
        assert!(noisy.contains("within the noise"), "{noisy}");
    }
}
