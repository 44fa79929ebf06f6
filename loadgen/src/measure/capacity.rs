//! The capacity search: the highest rate at which a latency target (an SLO
//! such as `p99 < 20ms`) holds, found by trying rates.
//!
//! From a start rate it multiplies (or divides) by a factor, 2 unless the
//! start is known to be near, until one rate holds the SLO and a higher one
//! does not, then bisects between them in log space until
//! they are within the resolution: each probe halves the ratio between the
//! two. A rate near the boundary is decided by the majority of several
//! steps, so one noisy step does not move the answer; and the search ends
//! with a longer step at the rate found, which must hold too (if it does
//! not, the rate is a high end, and the search goes on with long steps
//! only, since short ones overestimated what the server sustains). A step
//! passes only if its generator kept up, the server kept up (stationary),
//! the SLO held and the errors stayed within their limit. A step whose
//! generator fell behind is run again, and if it still does the search
//! stops: it says nothing about the server.
//!
//! The search is written against a function that runs a step, so its
//! logic is tested without a server.

use serde::{Deserialize, Serialize};

use super::record::{Header, Identity};
use super::sweep::SweepStep;

/// `stackbench.capacity/2`: bump on an incompatible change (2 added the
/// outcome `server_errors`).
pub const SCHEMA: &str = "stackbench.capacity/2";

/// Why a rate was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Multiplying or dividing, to find a rate that holds and one that fails.
    Bracket,
    /// Between the two, to narrow them to the resolution.
    Bisect,
    /// A longer step at the rate found.
    Confirm,
}

/// What one step, or a probe's steps together, say of the SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The generator fell behind: no evidence either way.
    Invalid,
}

/// One rate tried, its steps and what they decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe<S> {
    pub rate_rps: f64,
    pub purpose: Purpose,
    pub steps: Vec<S>,
    pub verdict: Verdict,
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A rate that holds and one that fails, within the resolution.
    Found,
    /// The SLO failed down to the lowest rate allowed.
    NeverHeld,
    /// The lowest rate failed on the server's errors, not on its latency.
    ServerErrors,
    /// The SLO held up to the highest rate allowed.
    AboveMax,
    /// A step's generator fell behind, again and again.
    GeneratorFellBehind,
    /// The confirmation failed too often to settle on a rate.
    Unsettled,
}

impl Outcome {
    /// Why a search ended, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::Found => "found",
            Outcome::NeverHeld => "the SLO failed down to the lowest rate",
            Outcome::ServerErrors => "the server's errors broke the limit down to the lowest rate",
            Outcome::AboveMax => "the SLO held up to the highest rate tried",
            Outcome::GeneratorFellBehind => "the generator fell behind",
            Outcome::Unsettled => "the confirmations failed",
        }
    }
}

/// The bracket: `low_rps` held the SLO, `high_rps` failed it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub low_rps: Option<f64>,
    pub high_rps: Option<f64>,
}

/// How the search runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub start_rps: f64,
    pub min_rps: f64,
    pub max_rps: f64,
    /// Each bracketing probe multiplies or divides the rate by this (> 1):
    /// 2 from a rough start; less from one known to be near, such as the
    /// capacity an earlier round found.
    pub factor: f64,
    /// The bracket is narrowed until high / low is at most 1 + this.
    pub resolution: f64,
    /// Steps whose majority decides a rate near the boundary (odd).
    pub majority_of: usize,
    /// Times a step whose generator fell behind is run again.
    pub reruns: usize,
    /// Confirmations that may fail before the search gives up; 0: the
    /// search ends at the bracket, unconfirmed (`compare` repeats it in
    /// every round instead).
    pub confirmations: usize,
}

/// A search's result: every probe, the bracket and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Search<S> {
    pub outcome: Outcome,
    pub capacity: Capacity,
    pub probes: Vec<Probe<S>>,
}

/// How long a step runs: the usual length, or the confirmation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Step,
    Long,
}

/// Runs the search; `step(rate, length)` runs one step and judges it.
pub fn search<S, E>(
    settings: &Settings,
    mut step: impl FnMut(f64, Length) -> Result<(S, Verdict), E>,
) -> Result<Search<S>, E> {
    let mut probes: Vec<Probe<S>> = Vec::new();
    let (mut low, mut high): (Option<f64>, Option<f64>) = (None, None);
    let mut failed_confirmations = 0;
    let mut length = Length::Step;
    let mut rate = settings.start_rps.clamp(settings.min_rps, settings.max_rps);
    let outcome = loop {
        let purpose = match (low, high) {
            (Some(l), Some(h)) if h / l <= 1.0 + settings.resolution => Purpose::Confirm,
            (Some(_), Some(_)) => Purpose::Bisect,
            _ => Purpose::Bracket,
        };
        if purpose == Purpose::Confirm {
            if settings.confirmations == 0 {
                break Outcome::Found;
            }
            rate = low.expect("a bracket");
        }
        let probe_length = match purpose {
            Purpose::Confirm => Length::Long,
            _ => length,
        };
        let probe = decide(settings, rate, purpose, &mut |rate| {
            step(rate, probe_length)
        })?;
        let verdict = probe.verdict;
        probes.push(probe);
        match (verdict, purpose) {
            (Verdict::Invalid, _) => break Outcome::GeneratorFellBehind,
            (Verdict::Pass, Purpose::Confirm) => break Outcome::Found,
            (Verdict::Fail, Purpose::Confirm) => {
                failed_confirmations += 1;
                if failed_confirmations == settings.confirmations {
                    break Outcome::Unsettled;
                }
                // The rate found failed at length: it is a high end now,
                // and the highest rate that passed below it the low end.
                high = Some(rate);
                low = highest_pass_below(&probes, rate);
                length = Length::Long;
            }
            (Verdict::Pass, _) => low = Some(rate),
            (Verdict::Fail, _) => high = Some(rate),
        }
        rate = match (low, high) {
            (Some(l), Some(h)) => (l * h).sqrt(),
            (Some(l), None) if l >= settings.max_rps => break Outcome::AboveMax,
            (Some(l), None) => (settings.factor * l).min(settings.max_rps),
            (None, Some(h)) if h <= settings.min_rps => break Outcome::NeverHeld,
            (None, Some(h)) => (h / settings.factor).max(settings.min_rps),
            (None, None) => unreachable!("every probe sets an end"),
        };
    };
    Ok(Search {
        outcome,
        capacity: Capacity {
            low_rps: low,
            high_rps: high,
        },
        probes,
    })
}

/// The highest rate below `rate` that a probe passed.
fn highest_pass_below<S>(probes: &[Probe<S>], rate: f64) -> Option<f64> {
    (probes.iter())
        .filter(|p| p.verdict == Verdict::Pass && p.rate_rps < rate)
        .map(|p| p.rate_rps)
        .reduce(f64::max)
}

/// Decides one rate. Bracketing takes one step while the answer is "pass"
/// (far below the boundary) and a majority once a step fails there (the
/// boundary is near); bisecting always takes a majority; a confirmation
/// is one longer step. A step whose generator fell behind is run again,
/// at most `reruns` times.
fn decide<S, E>(
    settings: &Settings,
    rate: f64,
    purpose: Purpose,
    step: &mut impl FnMut(f64) -> Result<(S, Verdict), E>,
) -> Result<Probe<S>, E> {
    let mut steps = Vec::new();
    let (mut passes, mut fails) = (0, 0);
    let needed = settings.majority_of / 2 + 1;
    loop {
        let mut attempts = 0;
        let verdict = loop {
            let (record, verdict) = step(rate)?;
            steps.push(record);
            if verdict != Verdict::Invalid || attempts == settings.reruns {
                break verdict;
            }
            attempts += 1;
        };
        match verdict {
            Verdict::Invalid => {
                return Ok(Probe {
                    rate_rps: rate,
                    purpose,
                    steps,
                    verdict,
                })
            }
            Verdict::Pass => passes += 1,
            Verdict::Fail => fails += 1,
        }
        let majority = match purpose {
            Purpose::Confirm => true,
            Purpose::Bracket => fails == 0 || passes.max(fails) >= needed,
            Purpose::Bisect => passes.max(fails) >= needed,
        };
        if majority {
            let verdict = if passes > fails {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            return Ok(Probe {
                rate_rps: rate,
                purpose,
                steps,
                verdict,
            });
        }
    }
}

/// One step of the search as saved: the step, what it said and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityStep {
    pub verdict: Verdict,
    pub why: String,
    pub step: SweepStep,
}

impl Search<CapacityStep> {
    /// Names the server's errors as the reason no rate held, when every
    /// step of the lowest rate broke the error limit (`max_error_rate`, a
    /// fraction): a server that refuses or fails requests even when idle
    /// has no capacity to find, and its latency is beside the point.
    pub fn blame_errors(mut self, max_error_rate: f64) -> Self {
        let lowest = self.probes.last();
        let broke = |step: &CapacityStep| step.step.error_rate > max_error_rate;
        if self.outcome == Outcome::NeverHeld && lowest.is_some_and(|p| p.steps.iter().all(broke)) {
            self.outcome = Outcome::ServerErrors;
        }
        self
    }
}

/// A saved capacity search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityRecord {
    #[serde(flatten)]
    pub header: Header,
    pub target: Identity,
    /// The latency target, e.g. `p99 < 20ms`, and the error limit (a fraction).
    pub slo: String,
    pub max_error_rate: f64,
    pub resolution: f64,
    pub step_seconds: f64,
    pub confirm_seconds: f64,
    pub warmup_seconds: f64,
    pub drain_seconds: f64,
    /// The method in words, for whoever reads the record.
    pub method: String,
    pub outcome: Outcome,
    pub capacity: Capacity,
    pub probes: Vec<Probe<CapacityStep>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            start_rps: 100.0,
            min_rps: 1.0,
            max_rps: 1e6,
            factor: 2.0,
            resolution: 0.05,
            majority_of: 3,
            reruns: 2,
            confirmations: 3,
        }
    }

    /// A server that holds the SLO up to `capacity` req/s.
    fn holds_up_to(capacity: f64) -> impl FnMut(f64, Length) -> Result<(f64, Verdict), ()> {
        move |rate, _| {
            let verdict = if rate <= capacity {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            Ok((rate, verdict))
        }
    }

    #[test]
    fn the_bracket_holds_the_capacity_within_the_resolution() {
        for capacity in [1.5, 137.0, 1_000.0, 23_456.0] {
            let found = search(&settings(), holds_up_to(capacity)).unwrap();
            assert_eq!(found.outcome, Outcome::Found, "{capacity}");
            let (low, high) = (
                found.capacity.low_rps.unwrap(),
                found.capacity.high_rps.unwrap(),
            );
            assert!(
                low <= capacity && capacity < high,
                "{low} {capacity} {high}"
            );
            assert!(high / low <= 1.05, "{low} {high}");
            // It ends with a confirmation at the low end.
            let last = found.probes.last().unwrap();
            assert_eq!((last.purpose, last.rate_rps), (Purpose::Confirm, low));
        }
    }

    #[test]
    fn one_noisy_step_near_the_boundary_does_not_decide() {
        // Every third step fails whatever its rate: a noisy machine.
        let mut count = 0;
        let noisy = |rate: f64, _| {
            count += 1;
            let verdict = if rate <= 1_000.0 && count % 3 != 0 {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            Ok::<_, ()>((rate, verdict))
        };
        let found = search(&settings(), noisy).unwrap();
        let (low, high) = (
            found.capacity.low_rps.unwrap(),
            found.capacity.high_rps.unwrap(),
        );
        assert!(low <= 1_000.0 && 1_000.0 < high, "{low} {high}");
        // The bisection's probes each took more than one step.
        let bisect = found.probes.iter().filter(|p| p.purpose == Purpose::Bisect);
        assert!(bisect.clone().count() >= 3);
        assert!(bisect.clone().all(|p| p.steps.len() >= 2));
    }

    #[test]
    fn a_search_that_cannot_bracket_says_why() {
        let never = search(&settings(), holds_up_to(0.0)).unwrap();
        assert_eq!(never.outcome, Outcome::NeverHeld);
        assert_eq!(never.capacity.low_rps, None);
        assert_eq!(never.capacity.high_rps, Some(1.0));
        let above = search(
            &Settings {
                max_rps: 5_000.0,
                ..settings()
            },
            holds_up_to(1e9),
        )
        .unwrap();
        assert_eq!(above.outcome, Outcome::AboveMax);
        assert_eq!(above.capacity.low_rps, Some(5_000.0));
        // The generator falls behind above 500 req/s: each step there is
        // run again twice, then the search stops.
        let behind = search(&settings(), |rate: f64, _| {
            let verdict = if rate > 500.0 {
                Verdict::Invalid
            } else {
                Verdict::Pass
            };
            Ok::<_, ()>((rate, verdict))
        })
        .unwrap();
        assert_eq!(behind.outcome, Outcome::GeneratorFellBehind);
        assert_eq!(behind.probes.last().unwrap().steps, vec![800.0; 3]);
        assert_eq!(behind.capacity.low_rps, Some(400.0));
    }

    #[test]
    fn a_failed_confirmation_moves_the_bracket_down() {
        // Short steps hold up to 1,000 req/s, the long confirmation only up
        // to 900: the search settles below 900.
        let found = search(&settings(), |rate: f64, length| {
            let limit = if length == Length::Long {
                900.0
            } else {
                1_000.0
            };
            let verdict = if rate <= limit {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            Ok::<_, ()>((rate, verdict))
        })
        .unwrap();
        assert_eq!(found.outcome, Outcome::Found);
        let (low, high) = (
            found.capacity.low_rps.unwrap(),
            found.capacity.high_rps.unwrap(),
        );
        assert!(low <= 900.0 && high / low <= 1.05, "{low} {high}");
    }

    #[test]
    fn a_server_that_never_holds_at_length_leaves_the_search_unsettled() {
        // Short steps hold up to 1,000 req/s, a long step at no rate: every
        // confirmation fails, and after the third the search gives up.
        let found = search(&settings(), |rate: f64, length| {
            let verdict = if length == Length::Step && rate <= 1_000.0 {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            Ok::<_, ()>((rate, verdict))
        })
        .unwrap();
        assert_eq!(found.outcome, Outcome::Unsettled);
        let confirmations = found
            .probes
            .iter()
            .filter(|p| p.purpose == Purpose::Confirm);
        assert_eq!(confirmations.clone().count(), 3);
        assert!(confirmations.clone().all(|p| p.verdict == Verdict::Fail));
    }

    #[test]
    fn a_search_from_a_near_start_takes_few_steps_and_may_end_unconfirmed() {
        // compare's later rounds: start at the capacity found before, with a
        // small factor and no confirmation.
        let near = Settings {
            start_rps: 1_000.0,
            factor: 1.21,
            resolution: 0.1,
            majority_of: 1,
            confirmations: 0,
            ..settings()
        };
        for capacity in [800.0, 1_050.0, 1_400.0] {
            let found = search(&near, holds_up_to(capacity)).unwrap();
            assert_eq!(found.outcome, Outcome::Found, "{capacity}");
            let (low, high) = (
                found.capacity.low_rps.unwrap(),
                found.capacity.high_rps.unwrap(),
            );
            assert!(low <= capacity && capacity < high && high / low <= 1.1);
            assert!(
                found.probes.len() <= 4,
                "{capacity}: {}",
                found.probes.len()
            );
            assert!(found.probes.iter().all(|p| p.purpose != Purpose::Confirm));
        }
    }
}
