//! What a run measures, per step: latency histograms, errors by kind and
//! status codes. Each worker thread fills its own and they are merged at the
//! end, so recording takes no lock.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, up to this (60 s) at 3
/// significant digits; longer ones are clamped to it.
pub const MAX_LATENCY_US: u64 = 60_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// A small histogram for one second of the timeline (2 significant digits:
/// a per-second p99 needs no more, and one is made every second).
pub fn new_second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("valid histogram bounds")
}

/// Why a request did not count as a success. A cheap enum indexes a counter array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The status was not the step's `expect`.
    Status,
    /// A body check failed, or a value to capture was missing.
    Check,
    /// No answer within `--timeout` of the planned send time.
    Timeout,
    /// The connection could not be opened.
    Connect,
    /// The connection closed or was reset mid-request.
    Reset,
    /// The response was not valid HTTP/1.1.
    Malformed,
    /// Planned but not answered by the end of the run (in flight past the
    /// grace period, or never sent because every connection was busy).
    Unanswered,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Status,
        ErrorKind::Check,
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Reset,
        ErrorKind::Malformed,
        ErrorKind::Unanswered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Status => "status",
            ErrorKind::Check => "check",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Reset => "reset",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Unanswered => "unanswered",
        }
    }
}

/// One step's figures (or the total's). Every counted request is in
/// `latency`, whatever became of it, so its count is the number of requests.
#[derive(Debug, Clone)]
pub struct StepStats {
    /// From the planned send time (the open model's schedule; "now" in the
    /// closed model), for every request: answered, failed or unanswered.
    pub latency: Histogram<u64>,
    /// From the actual send to the response, for answered requests only:
    /// the server's service time, without the generator's queueing.
    pub service: Histogram<u64>,
    pub errors: [u64; ErrorKind::ALL.len()],
    pub statuses: BTreeMap<u16, u64>,
}

impl Default for StepStats {
    fn default() -> StepStats {
        StepStats {
            latency: new_histogram(),
            service: new_histogram(),
            errors: [0; ErrorKind::ALL.len()],
            statuses: BTreeMap::new(),
        }
    }
}

impl StepStats {
    /// Requests counted: planned (or started) in the measured window.
    pub fn requests(&self) -> u64 {
        self.latency.len()
    }

    /// Requests with a response, of any status.
    pub fn responses(&self) -> u64 {
        self.service.len()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Requests answered as the step expects.
    pub fn successes(&self) -> u64 {
        self.requests() - self.error_count()
    }

    /// A response: its latency from the plan and its service time.
    pub fn record_response(&mut self, latency_us: u64, service_us: u64, status: u16) {
        self.latency.saturating_record(latency_us.max(1));
        self.service.saturating_record(service_us.max(1));
        *self.statuses.entry(status).or_insert(0) += 1;
    }

    /// A request that got no response, with how long it waited for none.
    pub fn record_failure(&mut self, latency_us: u64, kind: ErrorKind) {
        self.latency.saturating_record(latency_us.max(1));
        self.record_error(kind);
    }

    /// A response that came but was not what the step expects (already
    /// recorded with [`record_response`](Self::record_response)).
    pub fn record_error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] += 1;
    }

    pub fn merge(&mut self, other: &StepStats) {
        self.latency
            .add(&other.latency)
            .expect("same histogram bounds");
        self.service
            .add(&other.service)
            .expect("same histogram bounds");
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_insert(0) += count;
        }
    }
}

/// What one worker thread measured, merged into the run's figures at the end.
#[derive(Debug, Clone)]
pub struct ThreadStats {
    pub steps: Vec<StepStats>,
    /// Open model: requests planned in the measured window that never went
    /// out (every connection stayed busy until the end). They have no step:
    /// a connection picks the step when it takes the request.
    pub never_sent: StepStats,
    /// Open model: how long after its planned time each request went out.
    pub lateness: Histogram<u64>,
    /// Open model: the part of that lateness that was the generator's own:
    /// from the moment a connection was free for the request (or its
    /// planned time, if one was free already) to the send. The rest of it
    /// was the server's: every connection busy with a response not yet in.
    pub own_lateness: Histogram<u64>,
    /// Counted requests still in flight when the run's time was up (some
    /// may have been answered in the grace period after it).
    pub in_flight_at_end: u64,
    /// Connections re-opened after a reset, timeout, `Connection: close`,
    /// or the server closing an idle one.
    pub reconnects: u64,
    /// Requests sent during the warm-up (not counted).
    pub warmup_requests: u64,
}

impl ThreadStats {
    pub fn new(steps: usize) -> ThreadStats {
        ThreadStats {
            steps: vec![StepStats::default(); steps],
            never_sent: StepStats::default(),
            lateness: new_histogram(),
            own_lateness: new_histogram(),
            in_flight_at_end: 0,
            reconnects: 0,
            warmup_requests: 0,
        }
    }

    pub fn merge(&mut self, other: &ThreadStats) {
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            mine.merge(theirs);
        }
        self.never_sent.merge(&other.never_sent);
        self.lateness
            .add(&other.lateness)
            .expect("same histogram bounds");
        self.own_lateness
            .add(&other.own_lateness)
            .expect("same histogram bounds");
        self.in_flight_at_end += other.in_flight_at_end;
        self.reconnects += other.reconnects;
        self.warmup_requests += other.warmup_requests;
    }
}

/// A histogram as HdrHistogram's V2 compressed encoding in base64, the form
/// other HdrHistogram tools read.
pub fn encode_histogram(histogram: &Histogram<u64>) -> String {
    use base64::Engine;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serializing into memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram does not decode: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip_through_base64() {
        let mut histogram = new_histogram();
        for value in [1, 10, 100, 1_000, 59_000_000] {
            histogram.record(value).unwrap();
        }
        let decoded = decode_histogram(&encode_histogram(&histogram)).unwrap();
        assert_eq!(decoded.len(), 5);
        assert_eq!(
            decoded.value_at_quantile(0.5),
            histogram.value_at_quantile(0.5)
        );
        assert_eq!(decoded.max(), histogram.max());
    }
}
