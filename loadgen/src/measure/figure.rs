//! The vocabulary of everything that sets runs side by side (`compare`,
//! `gate`): the phase a run (or a capacity search) measured and the figures read from it, kept as
//! data so that the statistics, the tables, the JSON and the HTML report
//! iterate over one list instead of naming six fields each.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::measure::record::RunRecord;

/// What a run measured: how much a server carries (a closed model, every
/// connection busy), how fast it answers at one rate (an open model), or
/// the highest rate at which it meets a latency target (a capacity search,
/// many open-model steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Throughput,
    Latency,
    Capacity,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Throughput => "throughput",
            Phase::Latency => "latency",
            Phase::Capacity => "capacity",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The figures a stack is judged on, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// The highest rate at which the SLO held, req/s (a capacity search).
    Capacity,
    /// Successful requests per second, closed model.
    Throughput,
    /// Latency from the plan, µs.
    P50,
    P99,
    P99_9,
    /// Server CPU time per successful request, µs (= ms per 1000 requests).
    CpuPerRequest,
    /// The server's peak resident memory, bytes.
    PeakRss,
}

/// One value per figure, for the figures measured: a JSON object keyed by
/// figure (`{"throughput": 5120.3, "p99": 870.0}`).
pub type Figures<T = f64> = BTreeMap<Figure, T>;

impl Figure {
    pub const ALL: [Figure; 7] = [
        Figure::Capacity,
        Figure::Throughput,
        Figure::P50,
        Figure::P99,
        Figure::P99_9,
        Figure::CpuPerRequest,
        Figure::PeakRss,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Figure::Capacity => "capacity",
            Figure::Throughput => "throughput",
            Figure::P50 => "p50",
            Figure::P99 => "p99",
            Figure::P99_9 => "p99.9",
            Figure::CpuPerRequest => "CPU per request",
            Figure::PeakRss => "peak RSS",
        }
    }

    pub fn higher_is_better(self) -> bool {
        matches!(self, Figure::Capacity | Figure::Throughput)
    }

    /// The figures a comparison judges: with a capacity search, capacity
    /// and what its steps tell (CPU per request at capacity, peak RSS);
    /// otherwise every other.
    pub fn compared(capacity: bool) -> Vec<Figure> {
        (Figure::ALL.into_iter())
            .filter(|&figure| match figure {
                Figure::Capacity => capacity,
                Figure::Throughput | Figure::P50 | Figure::P99 | Figure::P99_9 => !capacity,
                Figure::CpuPerRequest | Figure::PeakRss => true,
            })
            .collect()
    }

    /// The phase whose run gives this figure: throughput from the closed
    /// phase; latency and CPU from the open phase at one rate, or from the
    /// closed phase when there was none. Peak RSS has no phase of its own:
    /// it is the highest of every run. Capacity is a search's, not a run's.
    pub fn phase(self, latency_phase: bool) -> Option<Phase> {
        match self {
            Figure::Capacity => Some(Phase::Capacity),
            Figure::Throughput => Some(Phase::Throughput),
            Figure::PeakRss => None,
            _ if latency_phase => Some(Phase::Latency),
            _ => Some(Phase::Throughput),
        }
    }

    /// This figure of a run; `None` when the run cannot tell it (CPU and
    /// memory of a server loadgen did not start, CPU per request of a run
    /// without a success).
    pub fn of(self, record: &RunRecord) -> Option<f64> {
        let total = &record.total;
        let usage = record.server_usage.as_ref();
        match self {
            Figure::Capacity => None,
            Figure::Throughput => Some(total.rps),
            Figure::P50 => Some(total.latency.p50_us as f64),
            Figure::P99 => Some(total.latency.p99_us as f64),
            Figure::P99_9 => Some(total.latency.p99_9_us as f64),
            Figure::CpuPerRequest => usage
                .filter(|_| total.successes > 0)
                .map(|usage| 1e6 * usage.cpu_seconds / total.successes as f64),
            Figure::PeakRss => usage.map(|usage| usage.peak_rss_bytes as f64),
        }
    }
}

/// The figures a round's runs give, each from the run of the phase that
/// measures it (peak RSS the highest of all): `value` reads a figure of
/// one run.
pub fn of_runs<R>(
    runs: &[(Phase, &R)],
    latency_phase: bool,
    value: impl Fn(Figure, &R) -> Option<f64>,
) -> Figures {
    Figure::ALL
        .into_iter()
        .filter_map(|figure| {
            let found = match figure.phase(latency_phase) {
                Some(phase) => runs
                    .iter()
                    .find(|(p, _)| *p == phase)
                    .and_then(|(_, run)| value(figure, run)),
                None => runs
                    .iter()
                    .filter_map(|(_, run)| value(figure, run))
                    .reduce(f64::max),
            };
            Some((figure, found?))
        })
        .collect()
}
