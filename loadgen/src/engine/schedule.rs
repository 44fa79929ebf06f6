//! When requests are planned (open model) and how many connections are
//! active (closed model with stages), as functions of time since the start.
//!
//! Planned send times come from arithmetic on the rate, never from when a
//! timer happened to fire: tokio's timers tick in milliseconds, and latency
//! is measured from the plan.

use crate::scenario::{Arrivals, Load, Model, Shard, Stage};

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

/// The open model's plan, handed out one planned request at a time to a
/// worker thread. The run has one global sequence of arrivals j = 0, 1, 2,
/// ...: evenly spaced at the rate (wrk2's way), or a Poisson process drawn
/// from the run's seed. A thread takes the arrivals j with j mod `stride` =
/// `first`: with a stride of shards x threads, the threads of every shard
/// together send exactly the plan of one generator, whatever the split.
#[derive(Debug, Clone)]
pub struct Plan {
    rate: Profile,
    /// Where the next arrival of this plan falls on the rate's integral:
    /// the requests planned before it, counted continuously.
    position: f64,
    stride: u64,
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
    /// The arrivals `first`, `first + stride`, ... of the run's sequence;
    /// `seed` draws Poisson arrivals (the same in every thread and shard).
    pub fn new(load: &Load, first: u64, stride: u64, seed: u64) -> Plan {
        let arrivals = match load.model {
            Model::Open { arrivals, .. } => arrivals,
            Model::Closed { .. } => Arrivals::Uniform,
        };
        let spacing = match arrivals {
            Arrivals::Uniform => Spacing::Even,
            Arrivals::Poisson => Spacing::Poisson(fastrand::Rng::with_seed(seed)),
        };
        let mut plan = Plan {
            rate: Profile::for_load(load),
            position: 0.0,
            stride: stride.max(1),
            spacing,
        };
        // Memoryless: the first Poisson arrival is a whole gap after the start.
        if let Spacing::Poisson(_) = plan.spacing {
            plan.position = plan.spacing.gap();
        }
        plan.advance(first);
        plan
    }

    /// Moves `count` arrivals on. Every gap is drawn and added one at a
    /// time, as an unsplit run adds them, so that the positions are the
    /// same numbers to the last bit.
    fn advance(&mut self, count: u64) {
        for _ in 0..count {
            self.position += self.spacing.gap();
        }
    }

    /// The plan of worker `thread` of `threads` in `shard`: of the run's
    /// arrivals, the shard takes every `count`-th from its index, and each
    /// of its threads every `threads`-th of those, all drawn from one seed.
    pub fn of_thread(load: &Load, shard: Shard, thread: usize, threads: usize, seed: u64) -> Plan {
        let (index, count) = (u64::from(shard.index), u64::from(shard.count));
        // The plan's seed differs from every connection's (`seed ^ ...`).
        Plan::new(
            load,
            index + count * thread as u64,
            count * threads as u64,
            !seed,
        )
    }
}

impl Iterator for Plan {
    /// Seconds from the start at which this thread's next request is
    /// planned; `None` once the plan has passed the end of the load.
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        let at = self.rate.time_of(self.position)?;
        self.advance(self.stride);
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
        let mut all: Vec<f64> = (0..2).flat_map(|t| Plan::new(&load, t, 2, 7)).collect();
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
            let mut all: Vec<f64> = (0..2).flat_map(|t| Plan::new(&load, t, 2, seed)).collect();
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

    fn shard_load(rate: f64, millis: u64, poisson: bool, ramp: bool) -> Load {
        let arrivals = if poisson {
            Arrivals::Poisson
        } else {
            Arrivals::Uniform
        };
        let mut load = open(rate, 0, arrivals);
        load.duration = Duration::from_millis(millis);
        if ramp {
            load.stages = Some(vec![
                Stage {
                    duration: Duration::from_millis(millis / 2),
                    target: rate,
                },
                Stage {
                    duration: Duration::from_millis(millis - millis / 2),
                    target: rate / 3.0,
                },
            ]);
        }
        load
    }

    proptest::proptest! {
        // Each case plans up to 8,000 arrivals, up to 24 times over (in a debug build).
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The shards' threads together plan exactly the arrivals of one
        /// generator with one thread, to the last bit, and the shards'
        /// shares of them (and of the connections) differ by one at most.
        #[test]
        fn shards_together_plan_the_unsplit_run(
            rate in 1.0f64..4000.0,
            millis in 1u64..2000,
            poisson: bool,
            ramp: bool,
            shards in 1u32..9,
            threads in 1usize..4,
            seed: u64,
            connections in 1usize..100,
        ) {
            let load = shard_load(rate, millis, poisson, ramp);
            let whole: Vec<f64> = Plan::of_thread(&load, Shard::WHOLE, 0, 1, seed).collect();
            let per_shard: Vec<Vec<f64>> = (0..shards)
                .map(|index| {
                    let shard = Shard { index, count: shards };
                    (0..threads)
                        .flat_map(|thread| Plan::of_thread(&load, shard, thread, threads, seed))
                        .collect()
                })
                .collect();
            let mut union: Vec<f64> = per_shard.concat();
            union.sort_by(f64::total_cmp);
            proptest::prop_assert_eq!(&union, &whole);
            let sizes: Vec<usize> = per_shard.iter().map(Vec::len).collect();
            let spread = sizes.iter().max().unwrap() - sizes.iter().min().unwrap();
            proptest::prop_assert!(spread <= 1, "arrivals per shard {:?}", sizes);
            let opened: Vec<usize> = (0..shards)
                .map(|index| Shard { index, count: shards }.connections(connections).count())
                .collect();
            proptest::prop_assert_eq!(opened.iter().sum::<usize>(), connections);
            proptest::prop_assert!(opened.iter().max().unwrap() - opened.iter().min().unwrap() <= 1, "{:?}", opened);
        }
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
