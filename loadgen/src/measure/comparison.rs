//! A comparison's record: which stacks ran, every run of every round, each
//! stack's figures per round and their medians with min-max, and a verdict
//! per figure that names a winner only when the rounds support it.

use serde::{Deserialize, Serialize};

use crate::measure::record::{Machine, RunRecord};
use crate::measure::statistics::{median, ratio_interval, rounds_needed, RatioInterval};

pub const SCHEMA: &str = "stackbench.compare/2";

/// Family-wise confidence of a comparison's verdicts: each figure's interval
/// is at `1 - (1 - FAMILY_CONFIDENCE) / figures` (Bonferroni), so that
/// comparing a stack with itself comes out "within noise" on every figure
/// at least this often.
pub const FAMILY_CONFIDENCE: f64 = 0.95;

/// Fewer rounds than this: the figures are printed, no winner is named.
pub const MIN_ROUNDS_FOR_VERDICT: u32 = 3;

/// A server on a driver, under a label unique in the comparison (the same
/// stack listed twice is labelled apart: `axum+sqlx`, `axum+sqlx#2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    pub label: String,
    pub server: String,
    pub driver: String,
}

/// One measured run of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareRun {
    pub round: u32,
    /// `throughput` (closed model) or `latency` (open model at an equal rate).
    pub phase: String,
    /// The stack's label.
    pub stack: String,
    pub record: RunRecord,
}

/// One stack's figures in one round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoundFigures {
    pub round: u32,
    /// Successful requests per second in the throughput phase.
    pub rps: f64,
    /// Latency from the plan in the latency phase (the throughput phase
    /// when it was skipped), µs.
    pub p50_us: f64,
    pub p99_us: f64,
    pub p99_9_us: f64,
    /// Server CPU per 1000 answered requests over the measured window of
    /// the same phase as the latencies.
    pub cpu_ms_per_1000: f64,
    /// Peak RSS over the round's runs.
    pub peak_rss_bytes: f64,
    /// Errors of every kind over the round's runs.
    pub errors: u64,
}

/// A figure's median over rounds, with the lowest and highest round.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Spread {
        Spread {
            median: median(&mut values.to_vec()),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// The figures a comparison judges, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    Throughput,
    P50,
    P99,
    P99_9,
    CpuPerRequest,
    PeakRss,
}

impl Figure {
    pub const ALL: [Figure; 6] = [
        Figure::Throughput,
        Figure::P50,
        Figure::P99,
        Figure::P99_9,
        Figure::CpuPerRequest,
        Figure::PeakRss,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Figure::Throughput => "throughput",
            Figure::P50 => "p50",
            Figure::P99 => "p99",
            Figure::P99_9 => "p99.9",
            Figure::CpuPerRequest => "CPU per request",
            Figure::PeakRss => "peak RSS",
        }
    }

    pub fn higher_is_better(self) -> bool {
        self == Figure::Throughput
    }

    pub fn of(self, round: &RoundFigures) -> f64 {
        match self {
            Figure::Throughput => round.rps,
            Figure::P50 => round.p50_us,
            Figure::P99 => round.p99_us,
            Figure::P99_9 => round.p99_9_us,
            Figure::CpuPerRequest => round.cpu_ms_per_1000,
            Figure::PeakRss => round.peak_rss_bytes,
        }
    }
}

/// Per stack, its rounds and the spread of each figure over them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackSummary {
    pub stack: Stack,
    pub rounds: Vec<RoundFigures>,
    pub rps: Spread,
    pub p50_us: Spread,
    pub p99_us: Spread,
    pub p99_9_us: Spread,
    pub cpu_ms_per_1000: Spread,
    pub peak_rss_bytes: Spread,
    pub errors: u64,
}

impl StackSummary {
    pub fn spread(&self, figure: Figure) -> Spread {
        match figure {
            Figure::Throughput => self.rps,
            Figure::P50 => self.p50_us,
            Figure::P99 => self.p99_us,
            Figure::P99_9 => self.p99_9_us,
            Figure::CpuPerRequest => self.cpu_ms_per_1000,
            Figure::PeakRss => self.peak_rss_bytes,
        }
    }

    fn values(&self, figure: Figure) -> Vec<f64> {
        self.rounds.iter().map(|round| figure.of(round)).collect()
    }
}

/// One figure's verdict: the stack with the best median, and each other
/// stack's ratio to it with its interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FigureVerdict {
    pub figure: Figure,
    /// The best stack is better than every other beyond the noise.
    pub winner: bool,
    /// Label of the stack with the best median.
    pub best: String,
    pub others: Vec<Versus>,
    pub text: String,
}

/// Another stack's figure over the best's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versus {
    pub stack: String,
    pub ratio: f64,
    /// The interval of the ratio; absent when the rounds are too few.
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub beyond_noise: bool,
}

/// All verdicts of a comparison, and how they were reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdicts {
    /// How the intervals are computed, in words.
    pub method: String,
    /// Confidence of each figure's intervals.
    pub confidence: f64,
    pub figures: Vec<FigureVerdict>,
    /// Why no winner could be named at all, when that is so.
    pub caveat: Option<String>,
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
    /// The order runs happened in: `round phase stack`. Each round rotates
    /// the stacks, so no stack always runs first or last.
    pub order: Vec<String>,
    pub latency_rate: Option<f64>,
    pub pinning: Pinning,
    pub runs: Vec<CompareRun>,
    pub summary: Vec<StackSummary>,
    pub verdicts: Verdicts,
    /// PostgreSQL alone on the same SQL, when the scenario has it.
    #[serde(default)]
    pub ceiling: Option<Ceiling>,
}

/// One run of PostgreSQL alone: pgbench on the scenario's `ceiling`
/// scripts, one transaction per flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CeilingRecord {
    /// The pgbench command line; `flow-N.sql` is the Nth flow's script.
    pub command: String,
    /// As many as a server's database pool holds.
    pub connections: u32,
    /// The planned requests per second (open phase); none when closed.
    pub rate: Option<f64>,
    pub measured_seconds: f64,
    /// Flows run to their end inside the measured window.
    pub transactions: u64,
    /// Their requests: a flow counts as many as it has steps.
    pub requests: u64,
    /// Transactions that failed or were skipped inside the window.
    pub failed: u64,
    pub rps: f64,
    /// Per request: a flow of several steps credits each step with an
    /// equal share of its time, as pgbench times flows, not statements.
    pub latency: crate::measure::record::Latency,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CeilingRun {
    pub round: u32,
    pub phase: String,
    pub record: CeilingRecord,
}

/// The ceiling's figures in one round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CeilingRound {
    pub round: u32,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p99_9_us: f64,
}

/// PostgreSQL alone beside the stacks: its figures per round, and each
/// stack's over it, taken round by round (the same machine state) before
/// the median and range over rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceiling {
    pub runs: Vec<CeilingRun>,
    pub rounds: Vec<CeilingRound>,
    pub rps: Spread,
    pub p50_us: Spread,
    pub p99_us: Spread,
    pub p99_9_us: Spread,
    pub failed: u64,
    pub stacks: Vec<OverCeiling>,
}

/// A stack over the database alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverCeiling {
    pub stack: String,
    /// Throughput as a fraction of the database's.
    pub rps_fraction: Spread,
    /// Latency as a multiple of the database's at the same rate.
    pub p50_multiple: Spread,
    pub p99_multiple: Spread,
}

impl Ceiling {
    /// The ceiling's figures from its runs, and every stack's over it in the
    /// rounds both ran.
    pub fn new(runs: Vec<CeilingRun>, summary: &[StackSummary], latency_phase: bool) -> Ceiling {
        let latency_phase_name = if latency_phase {
            "latency"
        } else {
            "throughput"
        };
        let mut numbers: Vec<u32> = runs.iter().map(|run| run.round).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let rounds: Vec<CeilingRound> = numbers
            .into_iter()
            .map(|round| {
                let phase = |name: &str| {
                    runs.iter()
                        .find(|run| run.round == round && run.phase == name)
                        .map(|run| &run.record)
                };
                let latency = phase(latency_phase_name).map(|record| record.latency);
                CeilingRound {
                    round,
                    rps: phase("throughput").map_or(0.0, |record| record.rps),
                    p50_us: latency.map_or(0.0, |l| l.p50_us as f64),
                    p99_us: latency.map_or(0.0, |l| l.p99_us as f64),
                    p99_9_us: latency.map_or(0.0, |l| l.p99_9_us as f64),
                }
            })
            .collect();
        let figure =
            |of: fn(&CeilingRound) -> f64| Spread::of(&rounds.iter().map(of).collect::<Vec<_>>());
        let stacks = summary
            .iter()
            .map(|stack| {
                let over = |mine: fn(&RoundFigures) -> f64, theirs: fn(&CeilingRound) -> f64| {
                    let ratios: Vec<f64> = (stack.rounds.iter())
                        .filter_map(|r| {
                            let ceiling = rounds.iter().find(|c| c.round == r.round)?;
                            (theirs(ceiling) > 0.0).then(|| mine(r) / theirs(ceiling))
                        })
                        .collect();
                    Spread::of(&ratios)
                };
                OverCeiling {
                    stack: stack.stack.label.clone(),
                    rps_fraction: over(|r| r.rps, |c| c.rps),
                    p50_multiple: over(|r| r.p50_us, |c| c.p50_us),
                    p99_multiple: over(|r| r.p99_us, |c| c.p99_us),
                }
            })
            .collect();
        Ceiling {
            rps: figure(|r| r.rps),
            p50_us: figure(|r| r.p50_us),
            p99_us: figure(|r| r.p99_us),
            p99_9_us: figure(|r| r.p99_9_us),
            failed: runs.iter().map(|run| run.record.failed).sum(),
            runs,
            rounds,
            stacks,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pinning {
    pub server: Option<Vec<usize>>,
    pub loadgen: Option<Vec<usize>>,
    pub db: Option<Vec<usize>>,
}

/// Round `r` (from 1) runs the entries (stacks, and the database alone)
/// rotated by `r - 1`: over as many rounds as entries, each runs once in
/// each position.
pub fn rotation<T: Clone>(entries: &[T], rounds: u32) -> Vec<(u32, T)> {
    (1..=rounds)
        .flat_map(|round| {
            let shift = (round as usize - 1) % entries.len().max(1);
            entries[shift..]
                .iter()
                .chain(&entries[..shift])
                .map(move |entry| (round, entry.clone()))
        })
        .collect()
}

/// Each stack's figures per round, from the runs.
pub fn summarize(stacks: &[Stack], runs: &[CompareRun], latency_phase: bool) -> Vec<StackSummary> {
    let latency_phase_name = if latency_phase {
        "latency"
    } else {
        "throughput"
    };
    stacks
        .iter()
        .map(|stack| {
            let mut numbers: Vec<u32> = runs
                .iter()
                .filter(|run| run.stack == stack.label)
                .map(|run| run.round)
                .collect();
            numbers.sort_unstable();
            numbers.dedup();
            let rounds: Vec<RoundFigures> = numbers
                .into_iter()
                .map(|round| {
                    let mine: Vec<&RunRecord> = runs
                        .iter()
                        .filter(|run| run.stack == stack.label && run.round == round)
                        .map(|run| &run.record)
                        .collect();
                    let phase = |name: &str| {
                        runs.iter()
                            .find(|run| {
                                run.stack == stack.label && run.round == round && run.phase == name
                            })
                            .map(|run| &run.record)
                    };
                    let throughput = phase("throughput");
                    let latency = phase(latency_phase_name).map(|record| &record.total);
                    let cpu = phase(latency_phase_name).and_then(|record| {
                        let usage = record.server_usage?;
                        Some(1e6 * usage.cpu_seconds / record.total.responses.max(1) as f64)
                    });
                    RoundFigures {
                        round,
                        rps: throughput.map_or(0.0, |record| record.total.rps),
                        p50_us: latency.map_or(0.0, |f| f.latency.p50_us as f64),
                        p99_us: latency.map_or(0.0, |f| f.latency.p99_us as f64),
                        p99_9_us: latency.map_or(0.0, |f| f.latency.p99_9_us as f64),
                        cpu_ms_per_1000: cpu.unwrap_or(0.0),
                        peak_rss_bytes: mine
                            .iter()
                            .filter_map(|record| record.server_usage)
                            .map(|usage| usage.peak_rss_bytes as f64)
                            .fold(0.0, f64::max),
                        errors: mine.iter().map(|record| record.total.error_count()).sum(),
                    }
                })
                .collect();
            let spread = |figure: Figure| {
                Spread::of(
                    &rounds
                        .iter()
                        .map(|round| figure.of(round))
                        .collect::<Vec<_>>(),
                )
            };
            StackSummary {
                stack: stack.clone(),
                rps: spread(Figure::Throughput),
                p50_us: spread(Figure::P50),
                p99_us: spread(Figure::P99),
                p99_9_us: spread(Figure::P99_9),
                cpu_ms_per_1000: spread(Figure::CpuPerRequest),
                peak_rss_bytes: spread(Figure::PeakRss),
                errors: rounds.iter().map(|round| round.errors).sum(),
                rounds,
            }
        })
        .collect()
}

/// A verdict per figure: the stack with the best median, and whether it is
/// better than each other stack beyond the noise of the rounds.
pub fn judge(summary: &[StackSummary], rounds: u32) -> Verdicts {
    let figures_judged = Figure::ALL.len() as f64;
    let confidence = 1.0 - (1.0 - FAMILY_CONFIDENCE) / figures_judged;
    let needed = rounds_needed(confidence);
    let caveat = if summary.len() < 2 {
        Some("one stack: nothing to compare".to_string())
    } else if rounds < MIN_ROUNDS_FOR_VERDICT {
        Some(format!(
            "{rounds} round(s): no winner is named; differences between stacks can only be told from noise \
             across rounds (at least {MIN_ROUNDS_FOR_VERDICT}, and {needed} for an interval at this confidence): run with --rounds {needed} or more"
        ))
    } else if (rounds as usize) < needed {
        Some(format!(
            "{rounds} rounds cannot separate stacks at {:.0}% confidence over {} figures (it takes {needed}, \
             when every round of one stack beats every round of the other): every difference is reported as within noise; \
             run with --rounds {needed} or more",
            100.0 * FAMILY_CONFIDENCE,
            Figure::ALL.len()
        ))
    } else {
        None
    };
    let judged = rounds >= MIN_ROUNDS_FOR_VERDICT && summary.len() >= 2;
    let figures = Figure::ALL
        .iter()
        .map(|&figure| {
            let better = |a: f64, b: f64| {
                if figure.higher_is_better() {
                    a > b
                } else {
                    a < b
                }
            };
            let best = summary
                .iter()
                .reduce(|best, s| {
                    if better(s.spread(figure).median, best.spread(figure).median) {
                        s
                    } else {
                        best
                    }
                })
                .expect("at least one stack");
            let others: Vec<Versus> = summary
                .iter()
                .filter(|s| s.stack.label != best.stack.label)
                .map(|s| {
                    let interval = if judged {
                        ratio_interval(&s.values(figure), &best.values(figure), confidence)
                    } else {
                        RatioInterval {
                            ratio: s.spread(figure).median / best.spread(figure).median,
                            bounds: None,
                        }
                    };
                    Versus {
                        stack: s.stack.label.clone(),
                        ratio: interval.ratio,
                        low: interval.bounds.map(|b| b.0),
                        high: interval.bounds.map(|b| b.1),
                        beyond_noise: interval.excludes_one(),
                    }
                })
                .collect();
            let winner = !others.is_empty() && others.iter().all(|v| v.beyond_noise);
            let text = figure_text(figure, &best.stack.label, &others, winner);
            FigureVerdict {
                figure,
                best: best.stack.label.clone(),
                others,
                winner,
                text,
            }
        })
        .collect();
    Verdicts {
        method: format!(
            "per figure, each stack's rounds against the best median's: the ratio is the Hodges-Lehmann estimate \
             and its interval the exact Mann-Whitney interval at {:.2}% ({:.0}% over all {} figures, Bonferroni); \
             a difference is beyond noise when the interval excludes 1",
            100.0 * confidence,
            100.0 * FAMILY_CONFIDENCE,
            Figure::ALL.len()
        ),
        confidence,
        figures,
        caveat,
    }
}

fn figure_text(figure: Figure, best: &str, others: &[Versus], winner: bool) -> String {
    let interval = |v: &Versus| match (v.low, v.high) {
        (Some(low), Some(high)) => format!("{:.2}x [{low:.2}, {high:.2}]", v.ratio),
        _ => format!("{:.2}x [no interval]", v.ratio),
    };
    let direction = if figure.higher_is_better() {
        "highest"
    } else {
        "lowest"
    };
    let list = |filter: bool| {
        others
            .iter()
            .filter(|v| v.beyond_noise == filter)
            .map(|v| format!("{} {}", v.stack, interval(v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if others.is_empty() {
        format!("{}: {best} only", figure.name())
    } else if winner {
        format!(
            "{}: {best} is {direction}, beyond noise (others relative to it: {})",
            figure.name(),
            list(true)
        )
    } else if others.iter().any(|v| v.beyond_noise) {
        format!(
            "{}: {best} has the {direction} median, within noise of {}; beyond noise over {}",
            figure.name(),
            list(false),
            list(true)
        )
    } else {
        format!(
            "{}: within noise ({best} has the {direction} median; others relative to it: {})",
            figure.name(),
            list(false)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(label: &str) -> Stack {
        Stack {
            label: label.into(),
            server: label.into(),
            driver: "d".into(),
        }
    }

    fn summary(label: &str, rps: &[f64]) -> StackSummary {
        let rounds: Vec<RoundFigures> = rps
            .iter()
            .enumerate()
            .map(|(i, &rps)| RoundFigures {
                round: i as u32 + 1,
                rps,
                p50_us: 100.0 + i as f64,
                p99_us: 200.0 - i as f64,
                p99_9_us: 300.0,
                cpu_ms_per_1000: 50.0 + (i % 2) as f64,
                peak_rss_bytes: 1e7,
                errors: 0,
            })
            .collect();
        let spread =
            |figure: Figure| Spread::of(&rounds.iter().map(|r| figure.of(r)).collect::<Vec<_>>());
        StackSummary {
            stack: stack(label),
            rps: spread(Figure::Throughput),
            p50_us: spread(Figure::P50),
            p99_us: spread(Figure::P99),
            p99_9_us: spread(Figure::P99_9),
            cpu_ms_per_1000: spread(Figure::CpuPerRequest),
            peak_rss_bytes: spread(Figure::PeakRss),
            errors: 0,
            rounds,
        }
    }

    #[test]
    fn rounds_rotate_the_stacks() {
        let stacks: Vec<Stack> = ["a", "b", "c"].iter().map(|s| stack(s)).collect();
        let order: Vec<String> = rotation(&stacks, 4)
            .iter()
            .map(|(r, s)| format!("{r}{}", s.label))
            .collect();
        assert_eq!(
            order,
            ["1a", "1b", "1c", "2b", "2c", "2a", "3c", "3a", "3b", "4a", "4b", "4c"]
        );
    }

    #[test]
    fn a_winner_needs_rounds_that_support_it() {
        let fast = [130.0, 128.0, 135.0, 131.0, 129.0];
        let slow = [100.0, 103.0, 98.0, 101.0, 99.0];
        let clear = judge(&[summary("a", &slow), summary("b", &fast)], 5);
        let throughput = &clear.figures[0];
        assert!(
            throughput.winner && throughput.best == "b",
            "{throughput:?}"
        );
        assert!(
            throughput.text.starts_with("throughput: b is highest"),
            "{}",
            throughput.text
        );
        assert!(clear.caveat.is_none());
        // The same figures but the other stack's rounds overlapping: noise.
        let overlapping = [101.0, 99.0, 104.0, 97.0, 100.0];
        let noisy = judge(&[summary("a", &slow), summary("b", &overlapping)], 5);
        assert!(!noisy.figures[0].winner);
        assert!(
            noisy.figures[0].text.contains("within noise"),
            "{}",
            noisy.figures[0].text
        );
        // Identical stacks tie on every figure.
        assert!(noisy.figures.iter().skip(1).all(|f| !f.winner));
    }

    #[test]
    fn too_few_rounds_name_no_winner_and_say_why() {
        let one = judge(&[summary("a", &[100.0]), summary("b", &[200.0])], 1);
        assert!(one.figures.iter().all(|f| !f.winner));
        assert!(
            one.caveat
                .as_deref()
                .unwrap()
                .contains("no winner is named"),
            "{one:?}"
        );
        let three = judge(
            &[
                summary("a", &[100.0, 101.0, 99.0]),
                summary("b", &[200.0, 201.0, 199.0]),
            ],
            3,
        );
        assert!(three.figures.iter().all(|f| !f.winner));
        assert!(
            three.caveat.as_deref().unwrap().contains("--rounds 5"),
            "{three:?}"
        );
    }
}
