//! A comparison's record: which stacks ran, every run (or capacity search)
//! of every round, each stack's figures per round and their medians with min-max, and a verdict
//! per figure that names a winner only when the rounds support it.

use serde::{Deserialize, Serialize};

use crate::measure::capacity::{CapacityStep, Outcome, Search, Verdict};
use crate::measure::figure::{self, Figure, Figures, Phase};
use crate::measure::record::{Header, RunRecord};
use crate::measure::statistics::{median, ratio_interval, rounds_needed, RatioInterval};

pub const SCHEMA: &str = "stackbench.compare/7";

/// The versions `loadgen report` reads: 7 only added the search outcome
/// `server_errors`, so a record of 6 reads as it was written.
pub const READS: [&str; 2] = [SCHEMA, "stackbench.compare/6"];

/// Family-wise confidence of a comparison's verdicts: every interval is at
/// `1 - (1 - FAMILY_CONFIDENCE) / comparisons` (Bonferroni), the
/// comparisons being each figure's best against each other contender, so
/// that copies of one stack come out "within noise" on every figure at
/// least this often, however many copies and figures there are.
pub const FAMILY_CONFIDENCE: f64 = 0.95;

/// Fewer rounds than this: the figures are printed, no winner is named.
pub const MIN_ROUNDS_FOR_VERDICT: u32 = 3;

/// The ceiling's name in tables, reports and progress lines: PostgreSQL
/// alone, running the scenario's SQL with pgbench.
pub const CEILING_LABEL: &str = "ceiling: PostgreSQL alone";

/// What a comparison compares: a server on a driver, under a label unique
/// in the comparison (the same stack listed twice is labelled apart:
/// `axum+sqlx`, `axum+sqlx#2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contender {
    pub label: String,
    pub server: String,
    pub driver: String,
}

/// One measured run of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareRun {
    pub round: u32,
    pub phase: Phase,
    /// The contender's label.
    pub contender: String,
    pub record: RunRecord,
}

/// A contender's (or the ceiling's) figures in one round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoundFigures {
    pub round: u32,
    pub figures: Figures,
    /// Failed requests of every kind over the round's runs.
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

    /// Each figure's spread over the rounds that measured it.
    fn per_figure(rounds: &[RoundFigures]) -> Figures<Spread> {
        Figure::ALL
            .into_iter()
            .filter_map(|figure| {
                let values = values(rounds, figure);
                (!values.is_empty()).then(|| (figure, Spread::of(&values)))
            })
            .collect()
    }
}

/// A figure's value in each round that measured it.
fn values(rounds: &[RoundFigures], figure: Figure) -> Vec<f64> {
    rounds
        .iter()
        .filter_map(|round| round.figures.get(&figure).copied())
        .collect()
}

/// Per contender, its rounds and the spread of each figure over them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContenderSummary {
    pub contender: Contender,
    pub rounds: Vec<RoundFigures>,
    pub spreads: Figures<Spread>,
    pub errors: u64,
}

impl ContenderSummary {
    fn new(contender: Contender, rounds: Vec<RoundFigures>) -> ContenderSummary {
        ContenderSummary {
            contender,
            spreads: Spread::per_figure(&rounds),
            errors: rounds.iter().map(|round| round.errors).sum(),
            rounds,
        }
    }

    pub fn spread(&self, figure: Figure) -> Option<Spread> {
        self.spreads.get(&figure).copied()
    }

    pub fn values(&self, figure: Figure) -> Vec<f64> {
        values(&self.rounds, figure)
    }
}

/// One figure's verdict: the contender with the best median, and each
/// other's ratio to it with its interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FigureVerdict {
    pub figure: Figure,
    /// The best contender is better than every other beyond the noise.
    pub winner: bool,
    /// Label of the contender with the best median.
    pub best: String,
    pub others: Vec<Versus>,
    pub text: String,
}

/// Another contender's figure over the best's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versus {
    pub contender: String,
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
    #[serde(flatten)]
    pub header: Header,
    pub rounds: u32,
    /// The order runs happened in: `round phase contender`. Each round
    /// rotates the contenders, so none always runs first or last.
    pub order: Vec<String>,
    pub latency_rate: Option<f64>,
    pub pinning: Pinning,
    pub runs: Vec<CompareRun>,
    pub summary: Vec<ContenderSummary>,
    pub verdicts: Verdicts,
    /// PostgreSQL alone on the same SQL, when the scenario has it.
    #[serde(default)]
    pub ceiling: Option<Ceiling>,
    /// The capacity search of every stack in every round (`--capacity`),
    /// which replaces the throughput and latency phases.
    #[serde(default)]
    pub capacity: Option<CapacityPhase>,
}

/// How the capacity phase searched, and every search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityPhase {
    /// The latency target, e.g. `p99 < 20ms`, and the error limit (a fraction).
    pub slo: String,
    pub max_error_rate: f64,
    pub resolution: f64,
    pub step_seconds: f64,
    pub warmup_seconds: f64,
    pub drain_seconds: f64,
    /// The method in words, for whoever reads the record.
    pub method: String,
    pub searches: Vec<RoundSearch<CapacityStep>>,
    /// With `--sweep`: the fractions of each stack's median capacity that
    /// its curve was measured at, after the rounds, and the curves.
    #[serde(default)]
    pub fractions: Vec<f64>,
    #[serde(default)]
    pub sweeps: Vec<CapacitySweep<CapacityStep>>,
}

/// A contender's (or the ceiling's) latency against load after the rounds:
/// one step at each fraction of the median capacity its rounds found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacitySweep<S> {
    pub contender: String,
    /// The median capacity the fractions are of, req/s.
    pub capacity_rps: f64,
    pub steps: Vec<S>,
}

/// One capacity search: a contender's (or the ceiling's) in one round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundSearch<S> {
    pub round: u32,
    /// The contender's label, or the ceiling's.
    pub contender: String,
    /// Not flattened: serde reads a flattened record's maps with number
    /// keys (errors by status) back as strings, and fails.
    pub search: Search<S>,
}

impl<S> RoundSearch<S> {
    /// The rate that held the SLO, when the search bracketed it; a search
    /// that ended otherwise gives no capacity (it is listed instead).
    pub fn capacity(&self) -> Option<f64> {
        match self.search.outcome {
            Outcome::Found => self.search.capacity.low_rps,
            _ => None,
        }
    }

    /// The steps of the search, in the order they ran.
    pub fn steps(&self) -> impl Iterator<Item = &S> {
        self.search.probes.iter().flat_map(|probe| &probe.steps)
    }
}

impl Searched for RoundSearch<CapacityStep> {
    /// Capacity, the server's CPU per request in the step that passed at
    /// it, and its peak RSS over every step.
    fn figures(&self) -> Figures {
        let mut figures = Figures::new();
        let Some(capacity) = self.capacity() else {
            return figures;
        };
        figures.insert(Figure::Capacity, capacity);
        let at_capacity = (self.steps())
            .filter(|s| s.verdict == Verdict::Pass && s.step.offered_rps == capacity)
            .last();
        if let Some(cpu) = at_capacity.and_then(|s| s.step.cpu_us_per_request) {
            figures.insert(Figure::CpuPerRequest, cpu);
        }
        let rss = (self.steps())
            .filter_map(|s| Figure::PeakRss.of(&s.step.run))
            .reduce(f64::max);
        if let Some(rss) = rss {
            figures.insert(Figure::PeakRss, rss);
        }
        figures
    }

    fn errors(&self) -> u64 {
        self.steps().map(|s| s.step.run.total.error_count()).sum()
    }
}

impl Searched for RoundSearch<CeilingStep> {
    /// Capacity only: pgbench has no server whose CPU or memory to read.
    fn figures(&self) -> Figures {
        self.capacity()
            .map(|capacity| (Figure::Capacity, capacity))
            .into_iter()
            .collect()
    }

    fn errors(&self) -> u64 {
        self.steps().map(|s| s.record.failed).sum()
    }
}

/// One step of the ceiling's capacity search: pgbench at one rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CeilingStep {
    pub verdict: Verdict,
    pub why: String,
    pub record: CeilingRecord,
}

/// One run of the ceiling: pgbench on the scenario's `ceiling` scripts,
/// one transaction per flow.
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

impl Measured for CeilingRecord {
    /// The figures pgbench can tell: throughput and latency, not the
    /// server's CPU or memory (there is no server).
    fn figure(&self, figure: Figure) -> Option<f64> {
        match figure {
            Figure::Throughput => Some(self.rps),
            Figure::P50 => Some(self.latency.p50_us as f64),
            Figure::P99 => Some(self.latency.p99_us as f64),
            Figure::P99_9 => Some(self.latency.p99_9_us as f64),
            Figure::Capacity | Figure::CpuPerRequest | Figure::PeakRss => None,
        }
    }

    fn errors(&self) -> u64 {
        self.failed
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CeilingRun {
    pub round: u32,
    pub phase: Phase,
    pub record: CeilingRecord,
}

/// The ceiling beside the contenders: its figures per round, and each
/// contender's over it, taken round by round (the same machine state)
/// before the median and range over rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceiling {
    pub runs: Vec<CeilingRun>,
    /// Its capacity searches, with `--capacity`.
    #[serde(default)]
    pub searches: Vec<RoundSearch<CeilingStep>>,
    /// Its curve, with `--sweep`.
    #[serde(default)]
    pub sweep: Option<CapacitySweep<CeilingStep>>,
    pub rounds: Vec<RoundFigures>,
    pub spreads: Figures<Spread>,
    pub contenders: Vec<OverCeiling>,
}

/// A contender over the ceiling, per figure: throughput as a fraction of
/// the database's, latency as a multiple of the database's at the same rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverCeiling {
    pub contender: String,
    pub ratios: Figures<Spread>,
}

impl Ceiling {
    /// The ceiling's figures from its runs, and every contender's over it
    /// in the rounds both ran.
    pub fn new(
        runs: Vec<CeilingRun>,
        searches: Vec<RoundSearch<CeilingStep>>,
        summary: &[ContenderSummary],
        latency_phase: bool,
    ) -> Ceiling {
        let measured: Vec<(u32, Phase, &CeilingRecord)> = (runs.iter())
            .map(|run| (run.round, run.phase, &run.record))
            .collect();
        let rounds = rounds_of(
            &measured,
            &searches.iter().collect::<Vec<_>>(),
            latency_phase,
        );
        let contenders = summary
            .iter()
            .map(|contender| OverCeiling {
                contender: contender.contender.label.clone(),
                ratios: ratios(&contender.rounds, &rounds),
            })
            .collect();
        Ceiling {
            spreads: Spread::per_figure(&rounds),
            runs,
            searches,
            sweep: None,
            rounds,
            contenders,
        }
    }

    /// The connections pgbench ran over: as many as a server's pool.
    pub fn connections(&self) -> u32 {
        let runs = self.runs.iter().map(|run| run.record.connections);
        let steps = (self.searches.iter().flat_map(|s| s.steps())).map(|s| s.record.connections);
        runs.chain(steps).next().unwrap_or(0)
    }

    pub fn failed(&self) -> u64 {
        self.rounds.iter().map(|round| round.errors).sum()
    }
}

/// Per figure, the spread of `mine / theirs` over the rounds both measured.
fn ratios(mine: &[RoundFigures], theirs: &[RoundFigures]) -> Figures<Spread> {
    Figure::ALL
        .into_iter()
        .filter_map(|figure| {
            let ratios: Vec<f64> = (mine.iter())
                .filter_map(|round| {
                    let other = theirs.iter().find(|other| other.round == round.round)?;
                    let (a, b) = (round.figures.get(&figure)?, other.figures.get(&figure)?);
                    (*b > 0.0).then(|| a / b)
                })
                .collect();
            (!ratios.is_empty()).then(|| (figure, Spread::of(&ratios)))
        })
        .collect()
}

/// What a round's figures are read from: a server's run, or pgbench's.
trait Measured {
    fn figure(&self, figure: Figure) -> Option<f64>;
    fn errors(&self) -> u64;
}

impl Measured for RunRecord {
    fn figure(&self, figure: Figure) -> Option<f64> {
        figure.of(self)
    }

    fn errors(&self) -> u64 {
        self.total.error_count()
    }
}

/// What a round's capacity search adds to its figures.
trait Searched {
    fn figures(&self) -> Figures;
    fn errors(&self) -> u64;
}

/// Each round's figures of one contender (or the ceiling), from its runs
/// `(round, phase, record)` and its capacity searches.
fn rounds_of<R: Measured, S>(
    runs: &[(u32, Phase, &R)],
    searches: &[&RoundSearch<S>],
    latency_phase: bool,
) -> Vec<RoundFigures>
where
    RoundSearch<S>: Searched,
{
    let numbers = (runs.iter().map(|run| run.0)).chain(searches.iter().map(|s| s.round));
    round_numbers(numbers)
        .map(|round| {
            let mine: Vec<(Phase, &R)> = (runs.iter())
                .filter(|run| run.0 == round)
                .map(|&(_, phase, record)| (phase, record))
                .collect();
            let search = searches.iter().find(|s| s.round == round);
            let mut figures = figure::of_runs(&mine, latency_phase, |f, r| r.figure(f));
            figures.extend(search.map_or_else(Figures::new, |s| s.figures()));
            let errors = mine.iter().map(|(_, r)| r.errors());
            RoundFigures {
                round,
                figures,
                errors: errors.chain(search.map(|s| s.errors())).sum(),
            }
        })
        .collect()
}

/// The distinct round numbers, in order.
fn round_numbers(rounds: impl Iterator<Item = u32>) -> impl Iterator<Item = u32> {
    rounds
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pinning {
    pub server: Option<Vec<usize>>,
    pub loadgen: Option<Vec<usize>>,
    pub db: Option<Vec<usize>>,
}

/// Round `r` (from 1) runs the entries (contenders, and the ceiling)
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

/// Each contender's figures per round, from the runs and the capacity
/// searches.
pub fn summarize(
    contenders: &[Contender],
    runs: &[CompareRun],
    searches: &[RoundSearch<CapacityStep>],
    latency_phase: bool,
) -> Vec<ContenderSummary> {
    contenders
        .iter()
        .map(|contender| {
            // An invalid run's figures are partly its generator's: none are taken.
            let theirs: Vec<(u32, Phase, &RunRecord)> = (runs.iter())
                .filter(|run| run.contender == contender.label && run.record.validity.valid)
                .map(|run| (run.round, run.phase, &run.record))
                .collect();
            let searched: Vec<&RoundSearch<CapacityStep>> = (searches.iter())
                .filter(|search| search.contender == contender.label)
                .collect();
            ContenderSummary::new(
                contender.clone(),
                rounds_of(&theirs, &searched, latency_phase),
            )
        })
        .collect()
}

/// A verdict per figure that every contender measured: the contender with
/// the best median, and whether it is better than each other contender
/// beyond the noise of the rounds.
pub fn judge(summary: &[ContenderSummary], rounds: u32) -> Verdicts {
    let figures: Vec<Figure> = (Figure::ALL.into_iter())
        .filter(|&figure| summary.iter().all(|s| s.spread(figure).is_some()))
        .collect();
    let comparisons = comparisons(summary.len(), figures.len());
    let confidence = confidence_of_each(comparisons);
    let judged = rounds >= MIN_ROUNDS_FOR_VERDICT && summary.len() >= 2;
    Verdicts {
        method: format!(
            "per figure, each contender's rounds against the best median's: the ratio is the Hodges-Lehmann \
             estimate and its interval the exact Mann-Whitney interval at {:.2}% ({:.0}% over all {comparisons} \
             comparisons, {} figures x {} others, Bonferroni); a difference is beyond noise when the interval \
             excludes 1",
            100.0 * confidence,
            100.0 * FAMILY_CONFIDENCE,
            figures.len(),
            summary.len().saturating_sub(1),
        ),
        confidence,
        caveat: caveat(summary.len(), rounds, confidence, comparisons),
        figures: (figures.iter())
            .map(|&figure| judge_figure(summary, figure, judged.then_some(confidence)))
            .collect(),
    }
}

/// Each figure sets its best against every other contender: k - 1
/// comparisons, with the best picked from the same rounds.
fn comparisons(contenders: usize, figures: usize) -> usize {
    figures * contenders.saturating_sub(1)
}

/// The confidence of each of `comparisons` verdicts for all of them to hold
/// at [`FAMILY_CONFIDENCE`] (Bonferroni).
fn confidence_of_each(comparisons: usize) -> f64 {
    1.0 - (1.0 - FAMILY_CONFIDENCE) / comparisons.max(1) as f64
}

/// The fewest rounds at which a winner can be named among `contenders` on
/// `figures` figures.
pub fn rounds_for_a_winner(contenders: usize, figures: usize) -> u32 {
    let needed = rounds_needed(confidence_of_each(comparisons(contenders, figures)));
    (needed as u32).max(MIN_ROUNDS_FOR_VERDICT)
}

/// Why no winner can be named at all, when that is so.
fn caveat(contenders: usize, rounds: u32, confidence: f64, comparisons: usize) -> Option<String> {
    let needed = rounds_needed(confidence);
    if contenders < 2 {
        Some("one contender: nothing to compare".to_string())
    } else if rounds < MIN_ROUNDS_FOR_VERDICT {
        Some(format!(
            "{rounds} round(s): no winner is named; differences can only be told from noise across rounds \
             (at least {MIN_ROUNDS_FOR_VERDICT}, and {needed} for an interval at this confidence): run with \
             --rounds {needed} or more"
        ))
    } else if (rounds as usize) < needed {
        Some(format!(
            "{rounds} rounds cannot separate contenders at {:.0}% confidence over {comparisons} comparisons \
             (it takes {needed}, when every round of one beats every round of the other): every difference is \
             reported as within noise; run with --rounds {needed} or more",
            100.0 * FAMILY_CONFIDENCE,
        ))
    } else {
        None
    }
}

/// One figure's verdict; `confidence` is `None` when the rounds are too
/// few to judge, and then only the ratios of the medians are given.
fn judge_figure(
    summary: &[ContenderSummary],
    figure: Figure,
    confidence: Option<f64>,
) -> FigureVerdict {
    let median = |s: &ContenderSummary| s.spread(figure).map_or(f64::NAN, |spread| spread.median);
    let better = |a: f64, b: f64| {
        if figure.higher_is_better() {
            a > b
        } else {
            a < b
        }
    };
    let best = (summary.iter())
        .reduce(|best, s| {
            if better(median(s), median(best)) {
                s
            } else {
                best
            }
        })
        .expect("at least one contender");
    let others: Vec<Versus> = (summary.iter())
        .filter(|s| s.contender.label != best.contender.label)
        .map(|s| {
            let interval = match confidence {
                Some(confidence) => {
                    ratio_interval(&s.values(figure), &best.values(figure), confidence)
                }
                None => RatioInterval {
                    ratio: median(s) / median(best),
                    bounds: None,
                },
            };
            Versus {
                contender: s.contender.label.clone(),
                ratio: interval.ratio,
                low: interval.bounds.map(|b| b.0),
                high: interval.bounds.map(|b| b.1),
                beyond_noise: interval.excludes_one(),
            }
        })
        .collect();
    let winner = !others.is_empty() && others.iter().all(|v| v.beyond_noise);
    FigureVerdict {
        figure,
        text: figure_text(figure, &best.contender.label, &others, winner),
        best: best.contender.label.clone(),
        others,
        winner,
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
            .map(|v| format!("{} {}", v.contender, interval(v)))
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

    fn contender(label: &str) -> Contender {
        Contender {
            label: label.into(),
            server: label.into(),
            driver: "d".into(),
        }
    }

    fn summary(label: &str, rps: &[f64]) -> ContenderSummary {
        let rounds: Vec<RoundFigures> = rps
            .iter()
            .enumerate()
            .map(|(i, &rps)| RoundFigures {
                round: i as u32 + 1,
                figures: Figures::from([
                    (Figure::Throughput, rps),
                    (Figure::P50, 100.0 + i as f64),
                    (Figure::P99, 200.0 - i as f64),
                    (Figure::P99_9, 300.0),
                    (Figure::CpuPerRequest, 50.0 + (i % 2) as f64),
                    (Figure::PeakRss, 1e7),
                ]),
                errors: 0,
            })
            .collect();
        ContenderSummary::new(contender(label), rounds)
    }

    #[test]
    fn rounds_rotate_the_stacks() {
        let contenders: Vec<Contender> = ["a", "b", "c"].iter().map(|s| contender(s)).collect();
        let order: Vec<String> = rotation(&contenders, 4)
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
    fn verdicts_correct_for_every_comparison_of_every_figure() {
        let fast = [130.0, 128.0, 135.0, 131.0, 129.0];
        let slow = [100.0, 103.0, 98.0, 101.0, 99.0];
        // Two contenders: 6 comparisons, and 5 rounds can tell them apart.
        let two = judge(&[summary("a", &slow), summary("b", &fast)], 5);
        assert!(two.figures[0].winner, "{two:?}");
        // Four: 18 comparisons, each at 1 - 0.05/18, which 5 rounds cannot
        // reach however far apart they are; the caveat says how many can.
        let four = [
            summary("a", &slow),
            summary("b", &fast),
            summary("c", &slow),
            summary("d", &slow),
        ];
        let verdicts = judge(&four, 5);
        assert!((verdicts.confidence - (1.0 - 0.05 / 18.0)).abs() < 1e-12);
        assert!(verdicts.figures.iter().all(|f| !f.winner), "{verdicts:?}");
        let caveat = verdicts.caveat.as_deref().unwrap();
        assert!(
            caveat.contains("18 comparisons") && caveat.contains("--rounds 6"),
            "{caveat}"
        );
        let enough = [130.0, 128.0, 135.0, 131.0, 129.0, 133.0];
        let behind = [100.0, 103.0, 98.0, 101.0, 99.0, 102.0];
        let six = [
            summary("a", &behind),
            summary("b", &enough),
            summary("c", &behind),
            summary("d", &behind),
        ];
        assert!(judge(&six, 6).figures[0].winner);
    }

    /// The default rounds of `compare`: the fewest whose exact interval can
    /// exclude 1 at the corrected confidence (a round of one wholly beating
    /// every round of the other has probability 1/C(2n, n)).
    #[test]
    fn more_contenders_need_more_rounds_to_name_a_winner() {
        assert_eq!(rounds_for_a_winner(2, 6), 5);
        assert_eq!(rounds_for_a_winner(4, 6), 6);
        assert_eq!(rounds_for_a_winner(6, 6), 7);
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
