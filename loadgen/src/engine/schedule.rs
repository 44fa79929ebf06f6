//! When requests are planned (open model) and how many connections are
//! active (closed model with stages), as functions of time since the start.
//!
//! Planned send times come from arithmetic on the rate, never from when a
//! timer happened to fire: tokio's timers tick in milliseconds, and latency
//! is measured from the plan.

use crate::scenario::{Load, Model, Stage};

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

    /// The integral from 0 to `t`: requests planned by then, for a rate.
    pub fn integral(&self, t: f64) -> f64 {
        let mut total = 0.0;
        for &(start, duration, from, to) in &self.segments {
            if t <= start {
                break;
            }
            let span = (t - start).min(duration);
            let end_value = from + (to - from) * if duration > 0.0 { span / duration } else { 1.0 };
            total += (from + end_value) / 2.0 * span;
        }
        total
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

/// The open model's plan for one worker thread: its share of the rate (its
/// share of the connections), shifted by a fraction of an interval so the
/// threads interleave.
#[derive(Debug, Clone)]
pub struct Plan {
    rate: Profile,
    phase: f64,
}

impl Plan {
    pub fn new(load: &Load, share: f64, phase: f64) -> Plan {
        Plan {
            rate: Profile::for_load(load).scaled(share),
            phase,
        }
    }

    /// Seconds from the start at which this thread's request `k` is planned.
    pub fn planned(&self, k: u64) -> Option<f64> {
        self.rate.time_of(k as f64 + self.phase)
    }

    /// How many requests this thread planned strictly before `t`.
    pub fn planned_before(&self, t: f64) -> u64 {
        // Less a hair, so rounding error on an exact boundary does not count one more.
        let area = self.rate.integral(t) - self.phase - 1e-9;
        if area <= 0.0 {
            0
        } else {
            area.ceil() as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn constant_rate_plans_evenly() {
        let load = Load {
            model: Model::Open {
                rate: 1000.0,
                max_inflight: 10,
            },
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            stages: None,
        };
        let plans: Vec<Plan> = (0..2)
            .map(|t| Plan::new(&load, 0.5, t as f64 / 2.0))
            .collect();
        let mut all: Vec<f64> = plans
            .iter()
            .flat_map(|p| (0..).map_while(|k| p.planned(k)))
            .collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all.len(), 1000);
        for pair in all.windows(2) {
            assert!((pair[1] - pair[0] - 0.001).abs() < 1e-9, "{pair:?}");
        }
        assert_eq!(
            plans[0].planned_before(0.5) + plans[1].planned_before(0.5),
            500
        );
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
        assert_eq!(profile.integral(30.0), 2000.0);
        assert!((profile.time_of(500.0).unwrap() - 10.0).abs() < 1e-9);
        assert!((profile.time_of(1500.0).unwrap() - 20.0).abs() < 1e-9);
        assert!(profile.time_of(2000.5).is_none());
    }
}
