//! What people read: text tables for the terminal, and the HTML report.

pub mod html;
pub mod text;

use crate::measure::record::Latency;
use crate::scenario::threshold::{Statistic, Threshold};

/// The latency statistic an SLO judges, by name, and how to read it from a
/// step's summary (µs): p99 when the summary does not keep the SLO's own.
pub fn slo_statistic(slo: &Threshold) -> (String, impl Fn(&Latency) -> f64) {
    let kept = match slo.statistic {
        Statistic::Latency(stat) => Latency::default().statistic(stat).map(|_| stat),
        _ => None,
    };
    let name = match kept {
        Some(_) => (slo.text.split(['<', '>', '=']).next())
            .unwrap_or("")
            .trim()
            .to_string(),
        None => "p99".to_string(),
    };
    let value = move |latency: &Latency| match kept {
        Some(stat) => latency.statistic(stat).unwrap_or(f64::NAN),
        None => latency.p99_us as f64,
    };
    (name, value)
}
