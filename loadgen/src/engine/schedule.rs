//! When requests are planned (open model) and how many connections are
//! active (closed model with stages), as functions of time since the start.
//!
//! Planned send times come from arithmetic on the rate, never from when a
//! timer happened to fire: tokio's timers tick in milliseconds, and latency
//! is measured from the plan.

use crate::scenario::{Arrivals, Load, Model, Stage};

/// A piecewise-linear function of time: constant, or the ramps of stages.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `(start, duration, from, to)`, seconds and values, back to back.
    segments: Vec<(f64, f64, f64, f64)>,
}

impl Profile {
    pub fn for_load(load: &Load) -> Profile {
        let level = match load.model {
            Model::Closed { connections } => f64::from(connections),
            Model::Open { rate, .. } => rate,
        };
        match &load.stages {
            Some(stages) => Profile::stages(stages),
            None => Profile {
                segments: vec![(0.0, load.total().as_secs_f64(), level, level)],
            },
        }
    }

    /// Stages ramp from 0 (k6's convention) to each target in turn.
    pub fn stages(stages: &[Stage]) -> Profile {
        let mut segments = Vec::new();
        let (mut start, mut from) = (0.0, 0.0);
        for stage in stages {
            let duration = stage.duration.as_secs_f64();
            segments.push((start, duration, from, stage.target));
            start += duration;
            from = stage.target;
        }
        Profile { segments }
    }

    pub fn scaled(&self, factor: f64) -> Profile {
        Profile {
            segments: self
                .segments
                .iter()
                .map(|&(s, d, a, b)| (s, d, a * factor, b * factor))
                .collect(),
        }
    }

    /// The value at `t` seconds.
    pub fn at(&self, t: f64) -> f64 {
        for &(start, duration, from, to) in &self.segments {
            if t < start + duration {
                let progress = if duration > 0.0 {
                    (t - start) / duration
                } else {
                    1.0
                };
                return from + (to - from) * progress;
            }
        }
        0.0
    }

    /// When the integral reaches `count`, or `None` if it never does before the end.
    pub fn time_of(&self, count: f64) -> Option<f64> {
        let mut before = 0.0;
        for &(start, duration, from, to) in &self.segments {
            let area = (from + to) / 2.0 * duration;
            if count < before + area {
                let c = count - before;
                let slope = (to - from) / duration;
                let t = if slope.abs() < 1e-12 {
                    c / from
                } else {
                    // from*t + slope*t²/2 = c
                    (-from + (from * from + 2.0 * slope * c).max(0.0).sqrt()) / slope
                };
                return Some(start + t.clamp(0.0, duration));
            }
            before += area;
        }
        None
    }
}

/// The open model's plan for one worker thread, handed out one planned
/// request at a time: its share of the rate (its share of the connections).
/// Evenly spaced requests are shifted by a fraction of an interval so the
/// threads interleave; Poisson arrivals are independent per thread, and
/// together again a Poisson process at the whole rate.
#[derive(Debug, Clone)]
pub struct Plan {
    rate: Profile,
    /// Where the next request falls on the rate's integral: the requests
    /// planned before it, counted continuously.
    next: f64,
    spacing: Spacing,
}

#[derive(Debug, Clone)]
enum Spacing {
    Even,
    /// A unit-rate Poisson process on the integral (exponential gaps of
    /// mean one), which the rate's time scale turns into arrivals at the
    /// planned rate, ramps included.
    Poisson(fastrand::Rng),
}

impl Spacing {
    fn gap(&mut self) -> f64 {
        match self {
            Spacing::Even => 1.0,
            // 1 - u lies in (0, 1], so the logarithm is finite.
            Spacing::Poisson(rng) => -(1.0 - rng.f64()).ln(),
        }
    }
}

impl Plan {
    /// `phase` (a fraction of an interval) shifts evenly spaced requests;
    /// `seed` draws Poisson arrivals.
    pub fn new(load: &Load, share: f64, phase: f64, seed: u64) -> Plan {
        let arrivals = match load.model {
            Model::Open { arrivals, .. } => arrivals,
            Model::Closed { .. } => Arrivals::Uniform,
        };
        let mut spacing = match arrivals {
            Arrivals::Uniform => Spacing::Even,
            Arrivals::Poisson => Spacing::Poisson(fastrand::Rng::with_seed(seed)),
        };
        let next = match spacing {
            Spacing::Even => phase,
            // Memoryless: the first arrival is a whole gap after the start.
            Spacing::Poisson(_) => spacing.gap(),
        };
        Plan {
            rate: Profile::for_load(load).scaled(share),
            next,
            spacing,
        }
    }
}

impl Iterator for Plan {
    /// Seconds from the start at which this thread's next request is
    /// planned; `None` once the plan has passed the end of the load.
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        let at = self.rate.time_of(self.next)?;
        self.next += self.spacing.gap();
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn open(rate: f64, seconds: u64, arrivals: Arrivals) -> Load {
        Load {
            model: Model::Open {
                rate,
                max_inflight: 10,
                arrivals,
            },
            duration: Duration::from_secs(seconds),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            stages: None,
        }
    }

    #[test]
    fn constant_rate_plans_evenly() {
        let load = open(1000.0, 1, Arrivals::Uniform);
        let mut all: Vec<f64> = (0..2)
            .flat_map(|t| Plan::new(&load, 0.5, t as f64 / 2.0, 7))
            .collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all.len(), 1000);
        for pair in all.windows(2) {
            assert!((pair[1] - pair[0] - 0.001).abs() < 1e-9, "{pair:?}");
        }
    }

    /// Poisson arrivals from two threads: together their count is the rate's
    /// within its spread, their gaps are exponential (as many under the mean
    /// gap as an exponential puts there, 1 - 1/e), a seed repeats its plan,
    /// and another seed does not.
    #[test]
    fn poisson_arrivals_have_the_rate_and_exponential_gaps() {
        let load = open(1000.0, 100, Arrivals::Poisson);
        let plan = |seed: u64| -> Vec<f64> {
            let mut all: Vec<f64> = (0..2)
                .flat_map(|t| Plan::new(&load, 0.5, 0.0, seed + t))
                .collect();
            all.sort_by(f64::total_cmp);
            all
        };
        let all = plan(1);
        // 100,000 expected; the standard deviation is about 316.
        assert!(
            (all.len() as f64 - 100_000.0).abs() < 1_500.0,
            "{}",
            all.len()
        );
        let gaps: Vec<f64> = all.windows(2).map(|p| p[1] - p[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.001).abs() < 0.000_02, "{mean}");
        let under = gaps.iter().filter(|&&g| g < mean).count() as f64 / gaps.len() as f64;
        assert!((under - (1.0 - (-1.0f64).exp())).abs() < 0.01, "{under}");
        assert_eq!(plan(1), all);
        assert_ne!(plan(3)[..10], all[..10]);
    }

    #[test]
    fn stages_ramp_linearly() {
        let profile = Profile::stages(&[
            Stage {
                duration: Duration::from_secs(10),
                target: 100.0,
            },
            Stage {
                duration: Duration::from_secs(10),
                target: 100.0,
            },
            Stage {
                duration: Duration::from_secs(10),
                target: 0.0,
            },
        ]);
        assert_eq!(profile.at(5.0), 50.0);
        assert_eq!(profile.at(15.0), 100.0);
        assert!(profile.time_of(1999.5).is_some());
        assert!((profile.time_of(500.0).unwrap() - 10.0).abs() < 1e-9);
        assert!((profile.time_of(1500.0).unwrap() - 20.0).abs() < 1e-9);
        assert!(profile.time_of(2000.5).is_none());
    }
}
