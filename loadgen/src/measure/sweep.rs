//! A sweep's record: open-model steps at a list of rates, each with its
//! latency from the plan, whether the generator kept up (validity) and
//! whether the server did (stationarity).
//!
//! A step's percentiles only describe the server when the step is
//! stationary: at a rate the server cannot carry, the queue grows for as
//! long as the step lasts, and its p99 is whatever the step's length makes
//! it (a longer step, a larger p99). Such a step is marked unsustainable,
//! not averaged into a curve as if it were a latency.

use serde::{Deserialize, Serialize};

use super::record::{Header, Identity, Latency, RunRecord, Second};

/// `stackbench.sweep/1`: bump on an incompatible change.
pub const SCHEMA: &str = "stackbench.sweep/1";

/// A saved sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepRecord {
    #[serde(flatten)]
    pub header: Header,
    pub target: Identity,
    /// Each step's measured time, its warm-up, and the pause before it
    /// that lets the server drain what the step before left.
    pub step_seconds: f64,
    pub warmup_seconds: f64,
    pub drain_seconds: f64,
    /// Where the rates came from: the list given, or fractions of a maximum.
    pub rates_from: String,
    pub steps: Vec<SweepStep>,
}

/// One step: the load offered, what came of it, and the whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepStep {
    /// The planned rate, req/s.
    pub offered_rps: f64,
    /// Requests sent per second (all the plan, unless the in-flight cap
    /// held some back).
    pub achieved_rps: f64,
    /// Successful responses per second.
    pub successes_rps: f64,
    /// Latency from the planned send time, every request of the step.
    pub latency: Latency,
    pub error_rate: f64,
    /// Server CPU per successful request, µs, when loadgen started it.
    pub cpu_us_per_request: Option<f64>,
    /// Whether the server kept up, and how that was decided.
    pub stationary: bool,
    pub stationarity: Stationarity,
    /// Whether the generator kept up (the run's validity).
    pub valid: bool,
    /// The step's run, histograms and timeline included.
    pub run: RunRecord,
}

/// Was latency still growing within the step? Compared between the first
/// and the last third of the measured seconds, by each second's p50 and
/// the requests in flight at its end: the lowest of the last third against
/// the highest of the first. A server that keeps up holds both steady; one
/// that cannot queues, and a growing queue lifts every second of the last
/// third above every second of the first, in latency and in flight alike.
/// A stall of the shared machine lifts a second or two, which this ignores.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stationarity {
    /// The highest p50 of a second in the first third, the lowest in the last.
    pub p50_first_us: f64,
    pub p50_last_us: f64,
    /// The most requests in flight at the end of a second of the first
    /// third, the fewest in the last.
    pub in_flight_first: f64,
    pub in_flight_last: f64,
    /// Why the step is not stationary; empty when it is.
    pub reasons: Vec<String>,
}

/// Growth, last third over first, of both latency and requests in flight
/// beyond which the queue is taken to be growing. Not more: the queue of
/// an overload starts in the warm-up, so the first third already holds
/// part of it (at 1.26 times a server's capacity, 6 s steps saw 1.9 times).
pub const GROWTH: f64 = 1.5;
/// Growth of latency smaller than this is noise, whatever its ratio (a p50
/// of 300 µs becoming 700 µs is no queue).
pub const GROWTH_FLOOR_US: f64 = 2_000.0;
/// A step that sent less than this share of its plan held requests back
/// at the in-flight cap: the server did not keep up.
pub const SENT_SHARE: f64 = 0.99;

/// Decides a step's stationarity from its rates (the planned one is that of
/// the requests planned in the window, which Poisson arrivals scatter
/// around the offered rate) and the whole seconds of
/// its measured window (a run of `run_seconds`, warm-up included: the part
/// second at its end, and the entry of the grace period after it, hold
/// what ended when nothing more was sent).
pub fn stationarity(
    timeline: &[Second],
    run_seconds: f64,
    planned_rps: f64,
    achieved_rps: f64,
) -> Stationarity {
    let measured: Vec<&Second> = (timeline.iter())
        .filter(|second| !second.warmup && second.second as f64 <= run_seconds)
        .collect();
    let third = (measured.len() / 3).max(1);
    let (first, last) = (
        &measured[..third.min(measured.len())],
        &measured[measured.len().saturating_sub(third)..],
    );
    let highest = |seconds: &[&Second], of: fn(&Second) -> u64| {
        seconds.iter().map(|s| of(s) as f64).fold(0.0, f64::max)
    };
    let lowest = |seconds: &[&Second], of: fn(&Second) -> u64| {
        (seconds.iter())
            .map(|s| of(s) as f64)
            .fold(f64::INFINITY, f64::min)
    };
    let (p50_first_us, p50_last_us) = (highest(first, |s| s.p50_us), lowest(last, |s| s.p50_us));
    let (in_flight_first, in_flight_last) = (
        highest(first, |s| s.in_flight),
        lowest(last, |s| s.in_flight),
    );
    let mut reasons = Vec::new();
    if achieved_rps < SENT_SHARE * planned_rps {
        reasons.push(format!(
            "{achieved_rps:.0} of {planned_rps:.0} req/s sent: requests waited for a free connection"
        ));
    }
    let latency_grew =
        p50_last_us > GROWTH * p50_first_us && p50_last_us - p50_first_us > GROWTH_FLOOR_US;
    let queue_grew = in_flight_last > GROWTH * in_flight_first.max(1.0);
    if latency_grew && queue_grew {
        reasons.push(format!(
            "the queue grew within the step: p50 {} -> {}, in flight {in_flight_first:.0} -> \
             {in_flight_last:.0} (first third -> last third)",
            crate::units::format_us(p50_first_us),
            crate::units::format_us(p50_last_us),
        ));
    }
    Stationarity {
        p50_first_us,
        p50_last_us,
        in_flight_first,
        in_flight_last,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Measured seconds with these p50s (µs) and requests in flight.
    fn timeline(seconds: &[(u64, u64)]) -> Vec<Second> {
        let warmup = Second {
            second: 1,
            warmup: true,
            successes: 100,
            completed: 100,
            errors: 0,
            in_flight: 900,
            p50_us: 900_000,
            p99_us: 900_000,
            latency_histogram: String::new(),
        };
        let measured = seconds
            .iter()
            .enumerate()
            .map(|(i, &(p50, in_flight))| Second {
                second: i as u64 + 2,
                warmup: false,
                in_flight,
                p50_us: p50,
                p99_us: 2 * p50,
                ..warmup.clone()
            });
        std::iter::once(warmup.clone()).chain(measured).collect()
    }

    #[test]
    fn a_steady_step_is_stationary_whatever_one_second_does() {
        // Steady, one second stalled in the last third: no queue.
        let steady = timeline(&[
            (900, 4),
            (1_000, 5),
            (950, 3),
            (1_100, 4),
            (30_000, 40),
            (1_000, 4),
        ]);
        let verdict = stationarity(&steady, 7.0, 400.0, 400.0);
        assert_eq!(verdict.reasons, Vec::<String>::new());
        assert_eq!(
            (verdict.p50_first_us, verdict.p50_last_us),
            (1_000.0, 1_000.0)
        );
        // The warm-up's second is not measured.
        assert_eq!(
            (verdict.in_flight_first, verdict.in_flight_last),
            (5.0, 4.0)
        );
    }

    #[test]
    fn the_seconds_after_the_run_are_not_measured() {
        // The grace period's entry drains to nothing in flight: it is not a
        // second of the step, and must not read as the queue shrinking.
        let mut growing = timeline(&[(100_000, 30), (300_000, 90), (500_000, 150)]);
        growing.push(Second {
            second: 5,
            in_flight: 0,
            p50_us: 600_000,
            ..growing[3].clone()
        });
        let verdict = stationarity(&growing, 4.5, 460.0, 460.0);
        assert_eq!(
            (verdict.in_flight_first, verdict.in_flight_last),
            (30.0, 150.0)
        );
        assert_eq!(verdict.reasons.len(), 1, "{:?}", verdict.reasons);
    }

    #[test]
    fn a_growing_queue_is_not_stationary() {
        // Latency and in-flight climbing all the step: an overload.
        let growing = timeline(&[
            (50_000, 30),
            (120_000, 60),
            (200_000, 90),
            (280_000, 120),
            (350_000, 150),
            (420_000, 180),
        ]);
        let verdict = stationarity(&growing, 7.0, 460.0, 460.0);
        assert_eq!(verdict.reasons.len(), 1, "{:?}", verdict.reasons);
        assert!(
            verdict.reasons[0].starts_with("the queue grew"),
            "{:?}",
            verdict.reasons
        );
        // Small latencies doubling are noise, not a queue.
        let small = timeline(&[(300, 1), (300, 1), (300, 1), (300, 1), (900, 3), (900, 3)]);
        assert!(stationarity(&small, 7.0, 100.0, 100.0).reasons.is_empty());
        // A plan not sent in full is an overload, whatever the seconds say.
        let held_back = stationarity(&small, 7.0, 1_000.0, 900.0);
        assert_eq!(held_back.reasons.len(), 1);
        assert!(held_back.reasons[0].starts_with("900 of 1000 req/s sent"));
    }
}
