//! `compare --capacity "p99 < 20ms"`: instead of the throughput and latency
//! phases, each stack's capacity at the SLO in every round, by the search
//! of `measure::capacity` (as `loadgen capacity` runs it), and PostgreSQL
//! alone's by the same search over pgbench runs at a rate.
//!
//! A round's search must be short for a comparison of six stacks to fit in
//! minutes, so it is not confirmed by a longer step and no step is
//! repeated for a majority: the rounds repeat the whole search instead,
//! and their spread is the figure's. The first round starts from half a
//! closed run's throughput and brackets by doubling; later rounds start at
//! the median of what the earlier rounds found and bracket by 1 +
//! resolution, so that a search there takes two steps when the capacity
//! has not moved by more than the resolution, and one more for each
//! resolution it moved.

use std::sync::Arc;

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::commands::capacity::{error_limit, judge};
use crate::commands::load::{self, ToleranceArgs};
use crate::commands::run::Started;
use crate::commands::steps::{open_load, StepArgs, Steps};
use crate::measure::capacity::{search, CapacityStep, Settings, Verdict};
use crate::measure::comparison::{
    CapacityPhase, CapacitySweep, CeilingRecord, CeilingStep, Contender, RoundSearch, CEILING_LABEL,
};
use crate::measure::figure::Phase;
use crate::measure::record::Latency;
use crate::measure::statistics::median;
use crate::runner::{self, pgbench};
use crate::scenario::threshold::{LatencyStat, Observed, Statistic, Threshold};
use crate::scenario::Load;
use crate::server;

use super::{open_model, round_label, CompareArgs, Entry, Rounds};

/// How every search of the phase runs, from the comparison's flags.
pub struct Plan {
    slo: Threshold,
    /// `error_rate <= x%`.
    limit: Threshold,
    max_error_rate: f64,
    resolution: f64,
    steps: StepArgs,
    /// The sweep's fractions of each median capacity (none: no sweep).
    fractions: Vec<f64>,
}

/// The time between steps, for the server to finish what the step before
/// left (the reset of the data counts toward it).
const DRAIN: Duration = Duration::from_millis(500);

impl Plan {
    pub fn new(args: &CompareArgs, slo: Threshold, load: &Load) -> anyhow::Result<Plan> {
        let (step, warmup) = (load.duration, load.warmup);
        let (max_inflight, arrivals) = open_model(args, load);
        if step < Duration::from_secs(3) {
            bail!(
                "--duration {:?}: with --capacity each step needs at least 3 s, a whole second \
                 in each third, to tell whether its queue grew",
                step
            );
        }
        Ok(Plan {
            limit: error_limit(args.max_error_rate),
            slo,
            max_error_rate: args.max_error_rate / 100.0,
            resolution: args.resolution / 100.0,
            steps: StepArgs {
                step,
                warmup,
                drain: DRAIN,
                max_inflight: Some(max_inflight),
                arrivals: Some(arrivals),
                threads: args.load.threads,
                seed: args.load.seed,
                tolerance: ToleranceArgs::clone(&args.load.tolerance),
            },
            fractions: args
                .sweep
                .clone()
                .map_or(Vec::new(), |fractions| fractions.0),
        })
    }

    /// A round's search: from a rough start, bracketing by doubling; from
    /// an earlier round's capacity, by 1 + resolution.
    fn settings(&self, start_rps: f64, near: bool) -> Settings {
        Settings {
            start_rps,
            min_rps: 1.0,
            max_rps: 100.0 * start_rps,
            factor: if near { 1.0 + self.resolution } else { 2.0 },
            resolution: self.resolution,
            majority_of: 1,
            reruns: runner::RERUNS as usize,
            confirmations: 0,
        }
    }

    /// The phase's record, with the contenders' searches and sweeps.
    pub fn phase(&self, rounds: &mut Rounds) -> CapacityPhase {
        CapacityPhase {
            slo: self.slo.text.clone(),
            max_error_rate: self.max_error_rate,
            resolution: self.resolution,
            step_seconds: self.steps.step.as_secs_f64(),
            warmup_seconds: self.steps.warmup.as_secs_f64(),
            drain_seconds: self.steps.drain.as_secs_f64(),
            method: format!(
                "in every round, a search per stack of open-model steps: in the first round from \
                 half a closed run's throughput, multiplied or divided by 2 until one rate holds \
                 the SLO and one fails; in later rounds from the median capacity of the rounds \
                 before, by {:.2}; then bisected in log space to {:.0}%; one step decides a rate \
                 (the rounds repeat the search), and it passes when valid, stationary, within the \
                 SLO and the error limit; a step whose generator fell behind is run again up to \
                 {} times",
                self.settings(1.0, true).factor,
                100.0 * self.resolution,
                runner::RERUNS
            ),
            searches: std::mem::take(&mut rounds.searches),
            fractions: self.fractions.clone(),
            sweeps: std::mem::take(&mut rounds.sweeps),
        }
    }
}

impl Rounds<'_> {
    /// Every entry's search in every round of the schedule.
    pub fn run_capacity_phase(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        schedule: &[(u32, Entry)],
        plan: &Plan,
    ) -> anyhow::Result<()> {
        for (round, entry) in schedule {
            match entry {
                Entry::Contender(contender) => {
                    let earlier = median_capacity(&self.searches, &contender.label);
                    let found = self.search_contender(runtime, *round, contender, plan, earlier)?;
                    self.searches.push(found);
                }
                Entry::Ceiling => {
                    let Some(scripts) = self.scripts.clone() else {
                        continue;
                    };
                    let earlier = median_capacity(&self.ceiling_searches, CEILING_LABEL);
                    let found = self.search_ceiling(runtime, *round, &scripts, plan, earlier)?;
                    self.ceiling_searches.push(found);
                }
            }
        }
        Ok(())
    }

    /// A contender's search in one round: its server started once, each
    /// step on fresh data, the database checked after each.
    fn search_contender(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        round: u32,
        contender: &Contender,
        plan: &Plan,
        earlier: Option<f64>,
    ) -> anyhow::Result<RoundSearch<CapacityStep>> {
        let label = round_label(round, Phase::Capacity, &contender.label);
        let (label, steps) = self.start_steps(runtime, label, contender, plan)?;
        let start = match earlier {
            Some(capacity) => capacity,
            None => steps.half_the_closed_throughput()?,
        };
        let found = search(&plan.settings(start, earlier.is_some()), |rate, _| {
            let judged = self.contender_step(runtime, &steps, plan, &label, rate)?;
            Ok::<_, anyhow::Error>((judged.clone(), judged.verdict))
        })?
        .blame_errors(plan.max_error_rate);
        steps.finish()?;
        let search = RoundSearch {
            round,
            contender: contender.label.clone(),
            search: found,
        };
        say_found(&search);
        Ok(search)
    }

    /// PostgreSQL alone's search in one round: pgbench at each rate, on
    /// fresh data, the database checked after each.
    fn search_ceiling(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        round: u32,
        scripts: &Arc<pgbench::Scripts>,
        plan: &Plan,
        earlier: Option<f64>,
    ) -> anyhow::Result<RoundSearch<CeilingStep>> {
        let label = self.announce(round_label(round, Phase::Capacity, CEILING_LABEL));
        let start = match earlier {
            Some(capacity) => capacity,
            None => {
                let (step, warmup) = (plan.steps.step, plan.steps.warmup);
                let closed = load::closed_load(self.scenario, step, warmup);
                let closed = self.ceiling_run(runtime, scripts, &label, &closed, Duration::ZERO)?;
                eprintln!(
                    "   pgbench, closed: {:.1} req/s; starting at half",
                    closed.rps
                );
                (closed.rps / 2.0).max(1.0)
            }
        };
        let found = search(&plan.settings(start, earlier.is_some()), |rate, _| {
            let judged = self.ceiling_step(runtime, scripts, plan, &label, rate)?;
            Ok::<_, anyhow::Error>((judged.clone(), judged.verdict))
        })?;
        let search = RoundSearch {
            round,
            contender: CEILING_LABEL.to_string(),
            search: found,
        };
        say_found(&search);
        Ok(search)
    }

    /// After the rounds, each entry's curve: one step at each of the plan's
    /// fractions of the median capacity its rounds found, in rising order.
    pub fn run_sweeps(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        entries: &[Entry],
        plan: &Plan,
    ) -> anyhow::Result<()> {
        if plan.fractions.is_empty() {
            return Ok(());
        }
        for entry in entries {
            let capacity = match entry {
                Entry::Contender(contender) => median_capacity(&self.searches, &contender.label),
                Entry::Ceiling => median_capacity(&self.ceiling_searches, CEILING_LABEL),
            };
            let label = entry.label();
            let Some(capacity_rps) = capacity else {
                eprintln!("no sweep of {label}: no round found its capacity");
                continue;
            };
            let rates: Vec<f64> = plan.fractions.iter().map(|f| f * capacity_rps).collect();
            match (entry, self.scripts.clone()) {
                (Entry::Contender(contender), _) => {
                    let steps = self.sweep_contender(runtime, contender, plan, &rates)?;
                    self.sweeps.push(CapacitySweep {
                        contender: label.to_string(),
                        capacity_rps,
                        steps,
                    });
                }
                (Entry::Ceiling, Some(scripts)) => {
                    let label = self.announce(format!("sweep {label}"));
                    let steps = (rates.iter())
                        .map(|&rate| self.ceiling_step(runtime, &scripts, plan, &label, rate))
                        .collect::<anyhow::Result<_>>()?;
                    self.ceiling_sweep = Some(CapacitySweep {
                        contender: CEILING_LABEL.to_string(),
                        capacity_rps,
                        steps,
                    });
                }
                (Entry::Ceiling, None) => {}
            }
        }
        Ok(())
    }

    /// A contender's steps at `rates`, its server started once.
    fn sweep_contender(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        contender: &Contender,
        plan: &Plan,
        rates: &[f64],
    ) -> anyhow::Result<Vec<CapacityStep>> {
        let label = format!("sweep {}", contender.label);
        let (label, steps) = self.start_steps(runtime, label, contender, plan)?;
        let swept = (rates.iter())
            .map(|&rate| self.contender_step(runtime, &steps, plan, &label, rate))
            .collect::<anyhow::Result<_>>()?;
        steps.finish()?;
        Ok(swept)
    }

    /// Announces `label`, starts the contender's server and its steps.
    fn start_steps<'r>(
        &mut self,
        runtime: &'r tokio::runtime::Runtime,
        label: String,
        contender: &Contender,
        plan: &'r Plan,
    ) -> anyhow::Result<(String, Steps<'r>)> {
        let label = self.announce(label);
        let server = runtime.block_on(self.start_server(contender))?;
        let started = Started {
            destination: server.destination(),
            identity: server.identity.clone(),
            server: Some(server),
            reset_url: Some(self.database_url.clone()),
        };
        Ok((
            label,
            Steps::over(runtime, &plan.steps, self.scenario.clone(), started),
        ))
    }

    /// One step of a contender at `rate`, judged on the plan's SLO and error
    /// limit, the database checked after it.
    fn contender_step(
        &self,
        runtime: &tokio::runtime::Runtime,
        steps: &Steps,
        plan: &Plan,
        label: &str,
        rate: f64,
    ) -> anyhow::Result<CapacityStep> {
        let judged = judge(steps.step(rate, plan.steps.step)?, &plan.slo, &plan.limit);
        runtime.block_on(self.check_database(label))?;
        eprintln!("   {rate:>9.1} req/s: {}", judged.why);
        Ok(judged)
    }

    /// One pgbench step at `rate`, after the drain, judged as a contender's.
    fn ceiling_step(
        &self,
        runtime: &tokio::runtime::Runtime,
        scripts: &pgbench::Scripts,
        plan: &Plan,
        label: &str,
        rate: f64,
    ) -> anyhow::Result<CeilingStep> {
        let open = open_load(self.scenario, &plan.steps, rate, plan.steps.step);
        let judged = judge_ceiling(
            self.ceiling_run(runtime, scripts, label, &open, plan.steps.drain)?,
            plan,
        );
        eprintln!("   {rate:>9.1} req/s: {}", judged.why);
        Ok(judged)
    }

    /// pgbench with `load` on fresh data, at least `drain` after the run
    /// before it, the database checked after it.
    fn ceiling_run(
        &self,
        runtime: &tokio::runtime::Runtime,
        scripts: &pgbench::Scripts,
        label: &str,
        load: &Load,
        drain: Duration,
    ) -> anyhow::Result<CeilingRecord> {
        let drained = Instant::now() + drain;
        runtime.block_on(load::reset_database(&self.database_url, self.scenario))?;
        std::thread::sleep(drained.saturating_duration_since(Instant::now()));
        let record = scripts.run(&self.database_url, load, server::POOL_SIZE)?;
        runtime.block_on(self.check_database(label))?;
        Ok(record)
    }
}

/// The median capacity of an entry's rounds, where a search found one.
fn median_capacity<S>(searches: &[RoundSearch<S>], label: &str) -> Option<f64> {
    let mut found: Vec<f64> = (searches.iter())
        .filter(|search| search.contender == label)
        .filter_map(RoundSearch::capacity)
        .collect();
    (!found.is_empty()).then(|| median(&mut found))
}

fn say_found<S>(search: &RoundSearch<S>) {
    match search.capacity() {
        Some(rate) => eprintln!("   capacity {rate:.1} req/s"),
        None => eprintln!(
            "   no capacity this round: {}",
            search.search.outcome.describe()
        ),
    }
}

/// A pgbench step passes when the SLO held over its requests (from each
/// flow's planned start) and its failed or skipped flows stayed within the
/// error limit. pgbench has no per-second timeline, so the step is not
/// judged for a growing queue; a queue shows as lateness, which the SLO
/// counts, or as flows skipped for being later than the timeout.
fn judge_ceiling(record: CeilingRecord, plan: &Plan) -> CeilingStep {
    let flows = record.transactions + record.failed;
    let error_rate = record.failed as f64 / flows.max(1) as f64;
    let latency = |stat: LatencyStat| record.latency.statistic(stat).unwrap_or(f64::NAN);
    let observed = Observed {
        latency_us: &latency,
        error_rate,
        rps: record.rps,
    };
    let (value, held) = plan.slo.check(&observed);
    let (_, within) = plan.limit.check(&observed);
    let seen = format!(
        "{}: {}; errors {:.3}%",
        plan.slo.text,
        plan.slo.format_value(value),
        100.0 * error_rate
    );
    let (verdict, why) = if held && within {
        (Verdict::Pass, format!("pass ({seen})"))
    } else {
        (Verdict::Fail, format!("fail ({seen})"))
    };
    CeilingStep {
        verdict,
        why,
        record,
    }
}

/// Whether PostgreSQL alone can be judged on `slo`: its record keeps the
/// mean, the maximum and p50, p90, p99, p99.9 and p99.99.
pub fn ceiling_can_judge(slo: &Threshold) -> bool {
    match slo.statistic {
        Statistic::Latency(stat) => Latency::default().statistic(stat).is_some(),
        _ => false,
    }
}
