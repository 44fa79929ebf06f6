//! The regression gate's record and verdicts: did the head build get slower
//! than the base build, beyond a tolerance, in a way the windows support?
//!
//! Three answers, never two: **pass**, **regression** (worse than the
//! tolerance and significant), or **inconclusive** (the interval reaches
//! past the tolerance, or the windows cannot see a change as small as the
//! tolerance). A noisy machine then says "cannot tell" instead of crying
//! wolf or waving a regression through.

use serde::{Deserialize, Serialize};

use super::figure::{Figure, Figures, Phase};
use super::paired::Change;
use super::record::{Header, RunRecord};

/// `stackbench.gate/5`: bump on an incompatible change.
pub const SCHEMA: &str = "stackbench.gate/5";

/// The figures the gate decides on (errors are judged apart): throughput
/// and server CPU per request from the closed windows; p50 and p99 from the
/// windows at one equal rate. p50 sees a slowdown that costs no CPU (a
/// request waiting on a timer or a lock) where throughput, on a CPU-bound
/// scenario, and CPU per request cannot, and p99 is too noisy to.
pub const GATED: [Figure; 4] = [
    Figure::Throughput,
    Figure::P50,
    Figure::P99,
    Figure::CpuPerRequest,
];

/// The phase whose windows give a gated figure: throughput and the
/// server's CPU per request from the closed windows, p50 and p99 from the
/// windows at one equal rate. Saturated, a server's CPU per request is its
/// work per request; at the equal rate it also carries the wake-ups of a
/// server that is idle between requests, which dilute a change and vary
/// from window to window (docs/gates.md gives the measurement).
pub fn window_phase(figure: Figure) -> Option<Phase> {
    match figure {
        Figure::CpuPerRequest => Some(Phase::Throughput),
        _ => figure.phase(true),
    }
}

/// Which build a window ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Base,
    Head,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Base => "base",
            Side::Head => "head",
        }
    }
}

/// What the head is set against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Base and head built and run here, in alternated pairs of windows.
    Paired,
    /// The head against a saved run's windows (unpaired).
    Baseline,
    /// One build's windows saved as a baseline, nothing judged.
    Record,
}

/// One window: a short run of one build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub side: Side,
    pub phase: Phase,
    /// Windows of the same pair number ran side by side (A B or B A).
    pub pair: u32,
    pub requests: u64,
    pub errors: u64,
    /// The figures this window's phase gives, those the run could tell.
    pub figures: Figures,
    /// Whether its generator kept up; an invalid window is left out.
    pub valid: bool,
    /// The machine's steal over the window, percent (see `RunRecord`).
    pub steal_percent: Option<f64>,
}

impl Window {
    pub fn of(side: Side, phase: Phase, pair: u32, record: &RunRecord) -> Window {
        let figures = (Figure::ALL.into_iter())
            .filter(|&figure| window_phase(figure) == Some(phase))
            .filter_map(|figure| Some((figure, figure.of(record)?)))
            .collect();
        Window {
            side,
            phase,
            pair,
            requests: record.total.requests,
            errors: record.total.error_count(),
            figures,
            valid: record.validity.valid,
            steal_percent: record.steal_percent,
        }
    }

    pub fn figure(&self, figure: Figure) -> Option<f64> {
        self.figures.get(&figure).copied()
    }
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

/// One figure's change from base to head, and what the gate makes of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeVerdict {
    pub figure: Figure,
    /// The largest worsening that passes, as a fraction (0.1 = 10%).
    pub tolerance: f64,
    /// head / base; NaN (`null` in JSON) for a figure too few windows measured.
    #[serde(deserialize_with = "nan_if_null")]
    pub ratio: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub low: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub high: f64,
    pub p_value: Option<f64>,
    /// The smallest change the windows could detect (fraction).
    #[serde(deserialize_with = "nan_if_null")]
    pub detectable: f64,
    pub samples: usize,
    pub verdict: Verdict,
    pub reason: String,
}

/// The worst a figure may get and still pass, as "how many times worse"
/// (above 1 is worse, whichever way is good): a 10% throughput loss is a
/// head at 0.9 of the base, 1/0.9 times worse; 10% more CPU is 1.1.
pub fn limit(figure: Figure, tolerance: f64) -> f64 {
    if figure.higher_is_better() {
        1.0 / (1.0 - tolerance)
    } else {
        1.0 + tolerance
    }
}

/// Judges `change` of `figure` against `tolerance`, on the interval alone:
/// a regression when all of it is worse than the tolerance (so a true change
/// at the tolerance is called one at most as often as the interval misses),
/// a pass when all of it is within the tolerance, inconclusive between.
pub fn judge(figure: Figure, change: &Change, tolerance: f64) -> ChangeVerdict {
    // The decision compares "times worse" (above 1 is worse, whichever way
    // is good); the words give the change in the figure's own direction
    // (throughput -12%, p50 +30%): its worse end and its bound.
    let (worse_low, worse_high, worst, bound) = if figure.higher_is_better() {
        (
            1.0 / change.high,
            1.0 / change.low,
            change.low,
            1.0 - tolerance,
        )
    } else {
        (change.low, change.high, change.high, 1.0 + tolerance)
    };
    let limit = limit(figure, tolerance);
    let percent = |ratio: f64| format!("{:+.1}%", (ratio - 1.0) * 100.0);
    let allowed = percent(bound);
    let interval = format!("{} to {}", percent(change.low), percent(change.high));
    let (verdict, reason) = if worse_low > limit {
        (
            Verdict::Regression,
            format!(
                "{}, and all the interval ({interval}) beyond the tolerance ({allowed})",
                percent(change.ratio)
            ),
        )
    } else if worse_high <= limit {
        (
            Verdict::Pass,
            format!("at worst {} (tolerance {allowed})", percent(worst)),
        )
    } else if worse_high.is_infinite() {
        (
            Verdict::Inconclusive,
            "too few pairs measured it for an interval".to_string(),
        )
    } else {
        (
            Verdict::Inconclusive,
            format!(
                "the interval ({interval}) reaches across the tolerance ({allowed}): more pairs or \
                 a quieter machine would tell"
            ),
        )
    };
    ChangeVerdict {
        figure,
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

/// Steal (percentage points of the machine's CPU time) by which a
/// baseline's windows and the head's may differ before an unpaired
/// comparison stops telling the build from the machine.
pub const STEAL_DRIFT: f64 = 10.0;

/// Against a saved baseline, windows of another time are compared: if the
/// hypervisor took a different share of the machine then and now (median
/// steal `then` and `now`), a figure that got worse may be the machine's
/// doing, and a regression becomes inconclusive, saying why. (Paired
/// windows run side by side, so drift hits both alike.)
pub fn unless_the_machine_changed(verdict: ChangeVerdict, then: f64, now: f64) -> ChangeVerdict {
    if verdict.verdict != Verdict::Regression || (now - then).abs() <= STEAL_DRIFT {
        return verdict;
    }
    ChangeVerdict {
        verdict: Verdict::Inconclusive,
        reason: format!(
            "{}; but the machine changed since the baseline (the hypervisor's steal: {then:.0}% \
             then, {now:.0}% now), and unpaired windows cannot tell the build from the machine: \
             run base and head side by side (--base)",
            verdict.reason
        ),
        ..verdict
    }
}

/// JSON has no NaN: serde_json writes it as `null`, read back here as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// A figure too few windows measured (no successes, so no CPU per request):
/// nothing can be said of it, and the errors speak for those windows.
pub fn unmeasured(figure: Figure, tolerance: f64) -> ChangeVerdict {
    ChangeVerdict {
        figure,
        tolerance,
        ratio: f64::NAN,
        low: f64::NAN,
        high: f64::NAN,
        p_value: None,
        detectable: f64::NAN,
        samples: 0,
        verdict: Verdict::Inconclusive,
        reason: "fewer than two windows of each build measured it (windows without a success)"
            .to_string(),
    }
}

/// Errors of one build's window (or windows), with the requests it sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorCounts {
    pub errors: u64,
    pub requests: u64,
}

impl ErrorCounts {
    pub fn of(window: &Window) -> ErrorCounts {
        ErrorCounts {
            errors: window.errors,
            requests: window.requests,
        }
    }

    fn rate(self) -> f64 {
        self.errors as f64 / self.requests.max(1) as f64
    }

    fn add(self, other: ErrorCounts) -> ErrorCounts {
        ErrorCounts {
            errors: self.errors + other.errors,
            requests: self.requests + other.requests,
        }
    }
}

/// The head fails requests at a higher rate than the base, beyond a
/// tolerance, in more pairs of windows than chance gives: one window that
/// overloaded (a stall of the shared machine) is not a regression, a
/// steady excess is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorVerdict {
    /// Errors of each build, all windows together (for reading).
    pub base: u64,
    pub head: u64,
    /// Errors over requests, of each build, all windows together.
    pub base_rate: f64,
    pub head_rate: f64,
    /// How much higher the head's rate may be in a pair (0.001 = 0.1 points).
    pub tolerance: f64,
    /// Pairs of windows judged, and those in which the head's rate exceeded
    /// the base's by more than the tolerance.
    pub pairs: usize,
    pub worse_pairs: usize,
    /// One-sided sign test: the chance of as many worse pairs if a pair is
    /// worse no more often than not.
    pub p_value: Option<f64>,
    pub verdict: Verdict,
}

/// Judges the errors of `pairs` (base, head) of windows by a sign test
/// against the tolerance: a pair is worse when the head's error rate tops
/// the base's by more than `tolerance`. If the head's excess were no more
/// than the tolerance (in the median pair), a pair would be worse with
/// probability at most 1/2, and the count of worse pairs binomial: a
/// regression needs a count whose probability `p_value` is below `alpha`.
pub fn judge_errors(
    pairs: &[(ErrorCounts, ErrorCounts)],
    alpha: f64,
    tolerance: f64,
) -> ErrorVerdict {
    let worse_pairs = (pairs.iter())
        .filter(|(base, head)| head.rate() - base.rate() > tolerance)
        .count();
    let p_value =
        (!pairs.is_empty()).then(|| binomial_at_least(worse_pairs as u64, pairs.len() as u64, 0.5));
    let (base, head) = (pairs.iter()).fold(
        (ErrorCounts::default(), ErrorCounts::default()),
        |(b, h), (base, head)| (b.add(*base), h.add(*head)),
    );
    ErrorVerdict {
        base: base.errors,
        head: head.errors,
        base_rate: base.rate(),
        head_rate: head.rate(),
        tolerance,
        pairs: pairs.len(),
        worse_pairs,
        p_value,
        verdict: if p_value.is_some_and(|p| p < alpha) {
            Verdict::Regression
        } else {
            Verdict::Pass
        },
    }
}

/// P(X >= k) for X ~ Binomial(n, p), summed in log space so that thousands
/// of trials neither overflow nor underflow.
fn binomial_at_least(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 || p >= 1.0 {
        return 1.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    let (ln_p, ln_q) = (p.ln(), (1.0 - p).ln());
    // ln C(n, i), built up from ln C(n, 0) = 0.
    let mut ln_choose = 0.0;
    let mut total = 0.0;
    for i in 0..=n {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        if i >= k {
            total += (ln_choose + i as f64 * ln_p + (n - i) as f64 * ln_q).exp();
        }
    }
    total.min(1.0)
}

/// The whole answer: a regression anywhere is a regression; else any
/// inconclusive figure makes it inconclusive.
pub fn overall(changes: &[ChangeVerdict], errors: &ErrorVerdict) -> Verdict {
    let verdicts = changes.iter().map(|c| c.verdict).chain([errors.verdict]);
    verdicts.fold(Verdict::Pass, |worst, v| match (worst, v) {
        (Verdict::Regression, _) | (_, Verdict::Regression) => Verdict::Regression,
        (Verdict::Inconclusive, _) | (_, Verdict::Inconclusive) => Verdict::Inconclusive,
        _ => Verdict::Pass,
    })
}

/// A gate run as saved (`--out`), and what `--baseline` reads back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateRecord {
    #[serde(flatten)]
    pub header: Header,
    pub mode: Mode,
    pub base: Option<String>,
    pub head: String,
    pub driver: String,
    pub window_seconds: f64,
    pub warmup_seconds: f64,
    /// The latency windows' rate, req/s.
    pub latency_rate: f64,
    /// The confidence of all the figures' verdicts together.
    pub confidence: f64,
    pub windows: Vec<Window>,
    pub changes: Vec<ChangeVerdict>,
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
    fn reasons_speak_in_the_figures_own_direction() {
        // A throughput loss reads as a loss, against a tolerance of -10%,
        // not as "times worse" (+11.1%), which is how it is decided.
        let lost = judge(
            Figure::Throughput,
            &change(0.85, 0.82, 0.88, 0.002, 0.04),
            0.10,
        );
        assert_eq!(
            lost.reason,
            "-15.0%, and all the interval (-18.0% to -12.0%) beyond the tolerance (-10.0%)"
        );
        let kept = judge(
            Figure::Throughput,
            &change(0.97, 0.95, 0.99, 0.002, 0.04),
            0.10,
        );
        assert_eq!(kept.reason, "at worst -5.0% (tolerance -10.0%)");
        let slower = judge(Figure::P50, &change(1.1, 0.9, 1.3, 0.2, 0.2), 0.20);
        assert!(
            slower.reason.starts_with(
                "the interval (-10.0% to +30.0%) reaches across the tolerance (+20.0%)"
            ),
            "{}",
            slower.reason
        );
    }

    #[test]
    fn verdicts_follow_the_tolerance_and_the_interval() {
        let judge = |m, c: Change| judge(m, &c, 0.10).verdict;
        // 15% more CPU, the interval well clear of no change: a regression.
        assert_eq!(
            judge(Figure::CpuPerRequest, change(1.15, 1.11, 1.19, 0.002, 0.04)),
            Verdict::Regression
        );
        // 15% less throughput is a regression too (lower is worse there).
        assert_eq!(
            judge(Figure::Throughput, change(0.85, 0.82, 0.88, 0.002, 0.04)),
            Verdict::Regression
        );
        // Faster is never a regression.
        assert_eq!(
            judge(Figure::Throughput, change(1.2, 1.15, 1.25, 0.002, 0.04)),
            Verdict::Pass
        );
        // 15% worse but not significant: cannot tell.
        assert_eq!(
            judge(Figure::P99, change(1.15, 0.95, 1.35, 0.2, 0.2)),
            Verdict::Inconclusive
        );
        // Small and tight: a pass.
        assert_eq!(
            judge(Figure::P99, change(1.02, 0.99, 1.05, 0.3, 0.04)),
            Verdict::Pass
        );
        // Tight around no change: a pass, whatever the power estimate says
        // (the interval is the evidence).
        assert_eq!(
            judge(Figure::P99, change(1.0, 0.99, 1.01, 0.9, 0.12)),
            Verdict::Pass
        );
        // Worse, but not beyond the tolerance all the interval long: a true
        // change just under the tolerance is not called a regression.
        assert_eq!(
            judge(Figure::CpuPerRequest, change(1.09, 1.06, 1.12, 0.001, 0.04)),
            Verdict::Inconclusive
        );
        // "10% throughput loss" means a head at 0.9 of the base: 9.5% less
        // passes (it would not against 1 + 10% on the inverted ratio).
        assert_eq!(
            judge(Figure::Throughput, change(0.905, 0.902, 0.908, 0.001, 0.01)),
            Verdict::Pass
        );
        assert!((limit(Figure::Throughput, 0.10) - 1.0 / 0.9).abs() < 1e-12);
        // Too few pairs for an interval: nothing can be said.
        assert_eq!(
            judge(Figure::P50, change(1.3, 0.0, f64::INFINITY, 0.1, 0.5)),
            Verdict::Inconclusive
        );
        // Worse, but within the tolerance all the interval long: a pass.
        assert_eq!(
            judge(Figure::P99, change(1.05, 1.01, 1.09, 0.01, 0.04)),
            Verdict::Pass
        );
    }

    /// `pairs` pairs of windows of 1,000 requests each; the base fails
    /// `base` in each, the head `head`.
    fn steady(pairs: usize, base: u64, head: u64, tolerance: f64) -> ErrorVerdict {
        let window = |errors| ErrorCounts {
            errors,
            requests: 1_000,
        };
        judge_errors(&vec![(window(base), window(head)); pairs], 0.01, tolerance)
    }

    fn errors(base: u64, head: u64) -> ErrorVerdict {
        steady(16, base, head, 0.001)
    }

    #[test]
    fn a_stray_error_is_chance_and_a_steady_excess_a_regression() {
        assert_eq!(errors(0, 0).verdict, Verdict::Pass);
        assert_eq!(errors(0, 0).p_value, Some(1.0));
        // One error more per window of 1,000 is 0.1 points: within the
        // tolerance, however steady.
        assert_eq!(errors(0, 1).worse_pairs, 0);
        assert_eq!(errors(0, 1).verdict, Verdict::Pass);
        // Five more in every window: every pair worse, p = 2^-16.
        let excess = errors(0, 5);
        assert_eq!(excess.worse_pairs, 16);
        assert!((excess.p_value.unwrap() - 0.5f64.powi(16)).abs() < 1e-15);
        assert_eq!(excess.verdict, Verdict::Regression);
        assert_eq!((excess.base, excess.head), (0, 80));
        assert!((excess.head_rate - 0.005).abs() < 1e-12);
        // Thousands of errors: an even split is no regression.
        assert_eq!(steady(16, 500, 500, 0.0).verdict, Verdict::Pass);
        assert_eq!(steady(16, 500, 540, 0.0).verdict, Verdict::Regression);
        // A steady excess within the tolerance on the rate passes.
        assert_eq!(steady(16, 500, 540, 0.05).verdict, Verdict::Pass);
        // Too few pairs can show nothing: 6 of 6 worse has p = 1/64, above
        // 0.01; 7 of 7, p = 1/128, is below it.
        assert_eq!(steady(6, 0, 900, 0.001).verdict, Verdict::Pass);
        assert_eq!(steady(7, 0, 900, 0.001).verdict, Verdict::Regression);
    }

    #[test]
    fn errors_are_judged_per_pair_so_one_overloaded_window_is_chance() {
        let window = |errors, requests| ErrorCounts { errors, requests };
        // A head window that sent twice the requests may fail twice as many.
        let twice = judge_errors(&[(window(10, 1_000), window(20, 2_000)); 10], 0.01, 0.0);
        assert_eq!(twice.worse_pairs, 0);
        assert_eq!(twice.verdict, Verdict::Pass);
        // One pair in which the head's window overloaded and failed 300 of
        // its requests, the other 15 clean: pooled, that is 337 errors
        // against 44 and 0.25 points more; by pairs, one worse pair in 16.
        let mut pairs = vec![(window(3, 8_000), window(2, 8_000)); 15];
        pairs.push((window(0, 8_000), window(300, 8_000)));
        let overload = judge_errors(&pairs, 0.01, 0.001);
        assert_eq!(overload.worse_pairs, 1);
        assert_eq!(overload.verdict, Verdict::Pass);
        assert!(overload.head_rate - overload.base_rate > 0.001);
        // The same excess in 14 of 16 pairs is a regression; in 13 it is not
        // yet (p = 0.0106 against 0.01).
        let worse_in = |worse: usize| {
            let mut pairs = vec![(window(0, 8_000), window(300, 8_000)); worse];
            pairs.resize(16, (window(0, 8_000), window(0, 8_000)));
            judge_errors(&pairs, 0.01, 0.001).verdict
        };
        assert_eq!(worse_in(14), Verdict::Regression);
        assert_eq!(worse_in(13), Verdict::Pass);
        // No pairs at all: nothing to judge.
        assert_eq!(judge_errors(&[], 0.01, 0.001).p_value, None);
    }

    #[test]
    fn a_baseline_from_another_state_of_the_machine_cannot_show_a_regression() {
        let lost = || {
            judge(
                Figure::Throughput,
                &change(0.5, 0.4, 0.63, 0.002, 0.2),
                0.10,
            )
        };
        assert_eq!(lost().verdict, Verdict::Regression);
        // Steal from 12% to 40%: the machine, not necessarily the build.
        let drifted = unless_the_machine_changed(lost(), 12.0, 40.0);
        assert_eq!(drifted.verdict, Verdict::Inconclusive);
        assert!(
            drifted.reason.contains("12% then, 40% now"),
            "{}",
            drifted.reason
        );
        // Within the drift allowed, the regression stands.
        assert_eq!(
            unless_the_machine_changed(lost(), 12.0, 20.0).verdict,
            Verdict::Regression
        );
        // A pass is a pass whatever the machine did.
        let kept = judge(
            Figure::Throughput,
            &change(1.0, 0.98, 1.02, 0.9, 0.03),
            0.10,
        );
        assert_eq!(
            unless_the_machine_changed(kept, 0.0, 50.0).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn the_overall_verdict_is_the_worst() {
        let pass = judge(Figure::P99, &change(1.0, 0.98, 1.02, 0.9, 0.03), 0.2);
        let unsure = judge(Figure::P99, &change(1.1, 0.9, 1.3, 0.5, 0.3), 0.2);
        assert_eq!(
            overall(std::slice::from_ref(&pass), &errors(0, 0)),
            Verdict::Pass
        );
        assert_eq!(
            overall(&[pass.clone(), unsure.clone()], &errors(0, 0)),
            Verdict::Inconclusive
        );
        assert_eq!(overall(&[pass, unsure], &errors(0, 9)), Verdict::Regression);
    }
}
