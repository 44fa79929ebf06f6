//! The regression gate's record and verdicts: did the head build get slower
//! than the base build, beyond a tolerance, in a way the windows support?
//!
//! Three answers, never two: **pass**, **regression** (worse than the
//! tolerance and significant), or **inconclusive** (the interval reaches
//! past the tolerance, or the windows cannot see a change as small as the
//! tolerance). A noisy machine then says "cannot tell" instead of crying
//! wolf or waving a regression through.

use serde::{Deserialize, Serialize};

use super::paired::Change;
use super::record::Machine;

/// `stackbench.gate/1`: bump on an incompatible change.
pub const SCHEMA: &str = "stackbench.gate/1";

/// The figures the gate decides on (errors are judged apart, absolutely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Successful requests per second, closed model (throughput windows).
    Throughput,
    /// 99th percentile latency at one equal rate (latency windows).
    P99,
    /// Server CPU time per successful request at that rate.
    CpuPerRequest,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Throughput, Metric::P99, Metric::CpuPerRequest];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P99 => "p99 latency",
            Metric::CpuPerRequest => "CPU per request",
        }
    }

    pub fn higher_is_better(self) -> bool {
        self == Metric::Throughput
    }

    /// The figure of a window, if the window measures it.
    pub fn of(self, window: &Window) -> Option<f64> {
        match (self, window.phase) {
            (Metric::Throughput, Phase::Throughput) => Some(window.rps),
            (Metric::P99, Phase::Latency) => Some(window.p99_us),
            (Metric::CpuPerRequest, Phase::Latency) => window.cpu_us_per_request,
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Build {
    Base,
    Head,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Throughput,
    Latency,
}

/// One window: a short run of one build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub build: Build,
    pub phase: Phase,
    /// Windows of the same pair number ran side by side (A B or B A).
    pub pair: u32,
    pub requests: u64,
    pub errors: u64,
    /// Successes per second.
    pub rps: f64,
    pub p99_us: f64,
    /// Server CPU per success, when the server's CPU could be read.
    pub cpu_us_per_request: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Regression,
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Regression => "REGRESSION",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One metric's change and what the gate makes of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricVerdict {
    pub metric: Metric,
    /// The largest worsening that passes, as a fraction (0.1 = 10%).
    pub tolerance: f64,
    /// head / base.
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
    pub p_value: Option<f64>,
    /// The smallest change the windows could detect (fraction).
    pub detectable: f64,
    pub samples: usize,
    pub verdict: Verdict,
    pub reason: String,
}

/// Judges `change` of `metric` against `tolerance`; `alpha` is this
/// metric's share of the error rate (already corrected for the number of
/// metrics).
pub fn judge(metric: Metric, change: &Change, tolerance: f64, alpha: f64) -> MetricVerdict {
    // As "how many times worse": above 1 is worse, whichever way is good.
    let (worse, worse_low, worse_high) = if metric.higher_is_better() {
        (1.0 / change.ratio, 1.0 / change.high, 1.0 / change.low)
    } else {
        (change.ratio, change.low, change.high)
    };
    let limit = 1.0 + tolerance;
    let significant = worse_low > 1.0 && change.p_value.is_none_or(|p| p < alpha);
    let percent = |factor: f64| format!("{:+.1}%", (factor - 1.0) * 100.0);
    let (verdict, reason) = if worse > limit && significant {
        (
            Verdict::Regression,
            format!(
                "{} worse, beyond the {:.0}% tolerance, and the interval excludes no change",
                percent(worse),
                tolerance * 100.0
            ),
        )
    } else if worse_high > limit {
        (
            Verdict::Inconclusive,
            format!(
                "the interval reaches {} worse, past the {:.0}% tolerance: more pairs or a quieter machine would tell",
                percent(worse_high),
                tolerance * 100.0
            ),
        )
    } else if change.detectable > tolerance {
        (
            Verdict::Inconclusive,
            format!(
                "these windows detect only changes over {:.1}%, more than the {:.0}% tolerance",
                change.detectable * 100.0,
                tolerance * 100.0
            ),
        )
    } else {
        (
            Verdict::Pass,
            format!(
                "at worst {} (tolerance {:.0}%)",
                percent(worse_high),
                tolerance * 100.0
            ),
        )
    };
    MetricVerdict {
        metric,
        tolerance,
        ratio: change.ratio,
        low: change.low,
        high: change.high,
        p_value: change.p_value,
        detectable: change.detectable,
        samples: change.samples,
        verdict,
        reason,
    }
}

/// Errors are judged absolutely: the head may not fail more requests than
/// the base did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorVerdict {
    pub base: u64,
    pub head: u64,
    pub verdict: Verdict,
}

pub fn judge_errors(base: u64, head: u64) -> ErrorVerdict {
    ErrorVerdict {
        base,
        head,
        verdict: if head > base {
            Verdict::Regression
        } else {
            Verdict::Pass
        },
    }
}

/// The whole answer: a regression anywhere is a regression; else any
/// inconclusive metric makes it inconclusive.
pub fn overall(metrics: &[MetricVerdict], errors: &ErrorVerdict) -> Verdict {
    let verdicts = metrics.iter().map(|m| m.verdict).chain([errors.verdict]);
    verdicts.fold(Verdict::Pass, |worst, v| match (worst, v) {
        (Verdict::Regression, _) | (_, Verdict::Regression) => Verdict::Regression,
        (Verdict::Inconclusive, _) | (_, Verdict::Inconclusive) => Verdict::Inconclusive,
        _ => Verdict::Pass,
    })
}

/// A gate run as saved (`--out`), and what `--baseline` reads back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateRecord {
    pub schema: String,
    pub scenario: String,
    pub machine: Machine,
    pub git_commit: Option<String>,
    pub started_at: String,
    pub command: String,
    /// `paired` (base and head built and run here), `baseline` (head against
    /// a saved run) or `record` (one build's windows saved as a baseline).
    pub mode: String,
    pub base: Option<String>,
    pub head: String,
    pub driver: String,
    pub window_seconds: f64,
    pub warmup_seconds: f64,
    /// The latency windows' rate, req/s.
    pub latency_rate: f64,
    /// The confidence of all the metrics' verdicts together.
    pub confidence: f64,
    pub windows: Vec<Window>,
    pub metrics: Vec<MetricVerdict>,
    pub errors: Option<ErrorVerdict>,
    pub verdict: Option<Verdict>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(ratio: f64, low: f64, high: f64, p: f64, detectable: f64) -> Change {
        Change {
            ratio,
            low,
            high,
            p_value: Some(p),
            detectable,
            samples: 10,
        }
    }

    #[test]
    fn verdicts_follow_the_tolerance_and_the_interval() {
        let judge = |m, c: Change| judge(m, &c, 0.10, 0.0167).verdict;
        // 15% more CPU, the interval well clear of no change: a regression.
        assert_eq!(
            judge(Metric::CpuPerRequest, change(1.15, 1.11, 1.19, 0.002, 0.04)),
            Verdict::Regression
        );
        // 15% less throughput is a regression too (lower is worse there).
        assert_eq!(
            judge(Metric::Throughput, change(0.85, 0.82, 0.88, 0.002, 0.04)),
            Verdict::Regression
        );
        // Faster is never a regression.
        assert_eq!(
            judge(Metric::Throughput, change(1.2, 1.15, 1.25, 0.002, 0.04)),
            Verdict::Pass
        );
        // 15% worse but not significant: cannot tell.
        assert_eq!(
            judge(Metric::P99, change(1.15, 0.95, 1.35, 0.2, 0.2)),
            Verdict::Inconclusive
        );
        // Small and tight: a pass.
        assert_eq!(
            judge(Metric::P99, change(1.02, 0.99, 1.05, 0.3, 0.04)),
            Verdict::Pass
        );
        // Tight around no change, but blind to changes of the tolerance's size.
        assert_eq!(
            judge(Metric::P99, change(1.0, 0.99, 1.01, 0.9, 0.12)),
            Verdict::Inconclusive
        );
        // Worse, but within the tolerance all the interval long: a pass.
        assert_eq!(
            judge(Metric::P99, change(1.05, 1.01, 1.09, 0.01, 0.04)),
            Verdict::Pass
        );
    }

    #[test]
    fn errors_and_the_overall_verdict() {
        assert_eq!(judge_errors(0, 0).verdict, Verdict::Pass);
        assert_eq!(judge_errors(2, 1).verdict, Verdict::Pass);
        assert_eq!(judge_errors(0, 1).verdict, Verdict::Regression);
        let pass = judge(Metric::P99, &change(1.0, 0.98, 1.02, 0.9, 0.03), 0.2, 0.01);
        let unsure = judge(Metric::P99, &change(1.1, 0.9, 1.3, 0.5, 0.3), 0.2, 0.01);
        assert_eq!(
            overall(std::slice::from_ref(&pass), &judge_errors(0, 0)),
            Verdict::Pass
        );
        assert_eq!(
            overall(&[pass.clone(), unsure.clone()], &judge_errors(0, 0)),
            Verdict::Inconclusive
        );
        assert_eq!(
            overall(&[pass, unsure], &judge_errors(0, 3)),
            Verdict::Regression
        );
    }
}
