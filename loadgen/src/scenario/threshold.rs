//! Pass/fail thresholds such as `p99 < 20ms`, `error_rate < 0.1%`,
//! `rps > 5000`: a run that breaks one exits non-zero, so CI can gate on it.

use std::fmt;
use std::str::FromStr;

use crate::units::parse_duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// A latency statistic of the corrected histogram, in microseconds.
    Latency(LatencyStat),
    /// Errors (of every kind) over requests, as a fraction.
    ErrorRate,
    /// Counted requests per second of the measured time.
    Rps,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyStat {
    Mean,
    Max,
    Percentile(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub text: String,
    pub statistic: Statistic,
    op: Op,
    /// Microseconds for latencies, a fraction for error rates, req/s for rps.
    limit: f64,
}

/// The figures a threshold is checked against.
pub struct Observed<'a> {
    pub latency_us: &'a dyn Fn(LatencyStat) -> f64,
    pub error_rate: f64,
    pub rps: f64,
}

impl Threshold {
    /// The observed value and whether it passes.
    pub fn check(&self, observed: &Observed<'_>) -> (f64, bool) {
        let value = match self.statistic {
            Statistic::Latency(stat) => (observed.latency_us)(stat),
            Statistic::ErrorRate => observed.error_rate,
            Statistic::Rps => observed.rps,
        };
        let pass = match self.op {
            Op::Lt => value < self.limit,
            Op::Le => value <= self.limit,
            Op::Gt => value > self.limit,
            Op::Ge => value >= self.limit,
        };
        (value, pass)
    }

    /// The limit: µs for latencies, a fraction for error rates, req/s for rps.
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// Whether it caps its statistic from above (`<` or `<=`).
    pub fn is_upper_bound(&self) -> bool {
        matches!(self.op, Op::Lt | Op::Le)
    }

    /// A value of this threshold's statistic, in its units.
    pub fn format_value(&self, value: f64) -> String {
        match self.statistic {
            Statistic::Latency(_) => crate::units::format_us(value),
            Statistic::ErrorRate => format!("{:.3}%", value * 100.0),
            Statistic::Rps => format!("{value:.1} req/s"),
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Threshold, String> {
        let usage = || {
            format!(
                "threshold {text:?} is not METRIC OP VALUE, e.g. \"p99 < 20ms\", \"error_rate < 0.1%\", \
                 \"rps > 5000\" (statistics: mean, max, pNN[.N], error_rate, rps; ops: < <= > >=)"
            )
        };
        let position = text.find(['<', '>']).ok_or_else(usage)?;
        let (name, rest) = text.split_at(position);
        let (op, value) = if let Some(value) = rest.strip_prefix("<=") {
            (Op::Le, value)
        } else if let Some(value) = rest.strip_prefix(">=") {
            (Op::Ge, value)
        } else if let Some(value) = rest.strip_prefix('<') {
            (Op::Lt, value)
        } else {
            (Op::Gt, &rest[1..])
        };
        let (name, value) = (name.trim(), value.trim());
        let statistic = match name {
            "error_rate" => Statistic::ErrorRate,
            "rps" => Statistic::Rps,
            "mean" => Statistic::Latency(LatencyStat::Mean),
            "max" => Statistic::Latency(LatencyStat::Max),
            _ => {
                let percentile: f64 = name
                    .strip_prefix('p')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(usage)?;
                if !(0.0..=100.0).contains(&percentile) {
                    return Err(usage());
                }
                Statistic::Latency(LatencyStat::Percentile(percentile))
            }
        };
        let limit = match statistic {
            Statistic::Latency(_) => {
                parse_duration(value)
                    .map_err(|e| format!("threshold {text:?}: {e}"))?
                    .as_secs_f64()
                    * 1e6
            }
            Statistic::ErrorRate => match value.strip_suffix('%') {
                Some(percent) => percent.trim().parse::<f64>().map_err(|_| usage())? / 100.0,
                None => value.parse().map_err(|_| usage())?,
            },
            Statistic::Rps => value.parse().map_err(|_| usage())?,
        };
        Ok(Threshold {
            text: text.trim().to_string(),
            statistic,
            op,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let latency = |stat: LatencyStat| match stat {
            LatencyStat::Percentile(99.0) => 15_000.0,
            _ => 1_000.0,
        };
        let observed = Observed {
            latency_us: &latency,
            error_rate: 0.002,
            rps: 4000.0,
        };
        let check = |text: &str| text.parse::<Threshold>().unwrap().check(&observed).1;
        assert!(check("p99 < 20ms"));
        assert!(!check("p99 < 10ms"));
        assert!(check("p99.9 <= 1ms"));
        assert!(!check("error_rate < 0.1%"));
        assert!(check("error_rate < 0.01"));
        assert!(!check("rps > 5000"));
        assert!(check("rps >= 4000"));
        for bad in ["p99", "p99 < fast", "q99 < 1ms", "rps > many", "p101 < 1ms"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }
}
