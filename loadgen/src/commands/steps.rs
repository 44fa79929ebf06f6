//! Open-model steps against one target, as `sweep` and `capacity` run them:
//! each at its own rate, after a pause in which the server drains what the
//! step before left, on fresh data, with its own warm-up; each judged for
//! the generator keeping up (validity) and the server keeping up
//! (stationarity, `measure::sweep`).

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use crate::commands::load::{self, positive, ToleranceArgs};
use crate::commands::places::Places;
use crate::commands::run::{start_target, Started, TargetArgs};
use crate::engine::Destination;
use crate::measure::figure::Figure;
use crate::measure::record::{Identity, RunRecord};
use crate::measure::sweep::{stationarity, SweepStep};
use crate::runner;
use crate::scenario::{self, Arrivals, Load, Model, Scenario};
use crate::server::{self, ServerProcess, TargetSpec};

/// What the steps run against.
#[derive(Args, Debug)]
pub struct TargetChoice {
    /// Scenario: a path to a TOML file, or a shipped name (e.g. orders).
    #[arg(long)]
    pub scenario: String,
    /// A stack by name (loadgen starts it) or the http://host:port of a
    /// running server, as for `run`.
    #[arg(long, default_value = "axum")]
    pub target: String,
    /// Do not reset the database to the scenario's dataset before each
    /// step (a stack loadgen starts; a URL target's only with --reset-db).
    #[arg(long)]
    pub no_reset: bool,
    /// For a URL target: reset the database before each step, as `run
    /// --reset-db` does.
    #[arg(long, conflicts_with = "no_reset")]
    pub reset_db: bool,
    /// Database driver of a stack that loadgen starts.
    #[arg(long, value_parser = server::driver_names())]
    pub driver: Option<String>,
    #[command(flatten)]
    pub places: Places,
}

/// How each step runs.
#[derive(Args, Debug)]
pub struct StepArgs {
    /// Measured time of each step, at least 3 s: stationarity compares its
    /// first and last thirds second by second, and with 6 s or more each
    /// third holds two seconds, so that one stalled second is not a queue.
    #[arg(long, default_value = "6s", value_parser = step_length)]
    pub step: Duration,
    /// Unmeasured start of each step.
    #[arg(long, default_value = "1s", value_parser = scenario::parse_duration)]
    pub warmup: Duration,
    /// Time between a step and the next, for the server to finish what the
    /// step before left (the reset of the data counts toward it).
    #[arg(long, default_value = "1s", value_parser = scenario::parse_duration)]
    pub drain: Duration,
    /// Most requests in flight at once [default: the scenario's, else 1024].
    #[arg(long)]
    pub max_inflight: Option<u32>,
    /// How requests are spaced: uniform or poisson [default: the scenario's].
    #[arg(long, value_enum)]
    pub arrivals: Option<Arrivals>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the request sequence.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
}

fn step_length(text: &str) -> Result<Duration, String> {
    let step = scenario::parse_duration(text)?;
    if step < Duration::from_secs(3) {
        return Err(format!(
            "{text}: a step needs at least 3 s, a whole second in each third (6s or more is better)"
        ));
    }
    Ok(step)
}

/// Fractions of a maximum, given as FROM:TO:BY. One value on the command
/// line, not a list of them, so clap keeps it whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Fractions(pub Vec<f64>);

/// FROM:TO:BY as the fractions from FROM to TO (within rounding) by BY.
pub fn parse_fractions(text: &str) -> Result<Fractions, String> {
    let parts: Vec<f64> = (text.split(':'))
        .map(positive)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("FROM:TO:BY, e.g. 0.1:1.2:0.1: {e}"))?;
    let [from, to, by] = parts[..] else {
        return Err(format!("FROM:TO:BY, e.g. 0.1:1.2:0.1, not {text:?}"));
    };
    if to < from {
        return Err(format!("{text}: TO is below FROM"));
    }
    let count = ((to - from) / by + 1e-9).floor() as usize + 1;
    if count > 100 {
        return Err(format!("{text}: {count} steps; at most 100"));
    }
    Ok(Fractions(
        (0..count).map(|i| from + i as f64 * by).collect(),
    ))
}

/// The load of an open-model step at `rate` measured for `length`: the
/// scenario's, with the steps' warm-up, cap on requests in flight and
/// arrivals.
pub fn open_load(scenario: &Scenario, args: &StepArgs, rate: f64, length: Duration) -> Load {
    let (max_inflight, arrivals) = match scenario.load.model {
        Model::Open {
            max_inflight,
            arrivals,
            ..
        } => (max_inflight, arrivals),
        Model::Closed { .. } => (load::DEFAULT_MAX_INFLIGHT, Arrivals::default()),
    };
    Load {
        model: Model::Open {
            rate,
            max_inflight: args.max_inflight.unwrap_or(max_inflight),
            arrivals: args.arrivals.unwrap_or(arrivals),
        },
        duration: length,
        warmup: args.warmup,
        stages: None,
        ..scenario.load.clone()
    }
}

/// A target started for steps, and what every step shares.
pub struct Steps<'a> {
    runtime: &'a tokio::runtime::Runtime,
    args: &'a StepArgs,
    pub scenario: Scenario,
    destination: Destination,
    pub identity: Identity,
    server: Option<ServerProcess>,
    /// The database reset before each step, if any.
    database_url: Option<String>,
}

impl<'a> Steps<'a> {
    /// Starts the target (a stack loadgen starts, or a running server).
    pub fn start(
        runtime: &'a tokio::runtime::Runtime,
        target: &TargetChoice,
        args: &'a StepArgs,
    ) -> anyhow::Result<Steps<'a>> {
        let scenario = scenario::find(&target.scenario)?;
        let spec = server::parse_target(&target.target)?;
        let reset = match spec {
            TargetSpec::Server(_) => !target.no_reset,
            TargetSpec::Url { .. } => target.reset_db,
        };
        let how = TargetArgs {
            places: &target.places,
            driver: target.driver.as_deref(),
            pin_server: None,
        };
        let started = start_target(runtime, spec, &how, reset.then_some(&scenario))?;
        Ok(Steps::over(runtime, args, scenario, started))
    }

    /// Steps against a target already started.
    pub fn over(
        runtime: &'a tokio::runtime::Runtime,
        args: &'a StepArgs,
        scenario: Scenario,
        started: Started,
    ) -> Steps<'a> {
        Steps {
            runtime,
            args,
            scenario,
            destination: started.destination,
            identity: started.identity,
            server: started.server,
            database_url: started.reset_url,
        }
    }

    /// Stops a server loadgen started.
    pub fn finish(self) -> anyhow::Result<()> {
        match self.server {
            Some(server) => server.stop(),
            None => Ok(()),
        }
    }

    /// The throughput of a closed run of the scenario's connections (one
    /// step's length): the maximum that fractions of it are taken of.
    pub fn closed_throughput(&self) -> anyhow::Result<RunRecord> {
        let closed = load::closed_load(&self.scenario, self.args.step, self.args.warmup);
        self.measure(&closed, Duration::ZERO)
    }

    /// Where a capacity search starts without a better guess: half the
    /// closed throughput, the server's saturated rate, whose latency is
    /// the queue's.
    pub fn half_the_closed_throughput(&self) -> anyhow::Result<f64> {
        let closed = self.closed_throughput()?;
        let max = closed.total.rps;
        if max.is_nan() || max <= 0.0 {
            bail!(
                "the closed run that picks the start rate had no success ({} errors): is the \
                 server answering?",
                closed.total.error_count()
            );
        }
        eprintln!(
            "   a closed run of the scenario's connections: {max:.1} req/s; starting at half"
        );
        Ok(max / 2.0)
    }

    /// One open-model step at `rate` measured for `length`, after the drain
    /// and on fresh data.
    pub fn step(&self, rate: f64, length: Duration) -> anyhow::Result<SweepStep> {
        let load = open_load(&self.scenario, self.args, rate, length);
        let run = self.measure(&load, self.args.drain)?;
        // Poisson arrivals plan a random number of requests around the
        // offered rate: what was sent is set against what was planned.
        let (planned_rps, achieved_rps) =
            (run.open_model.as_ref()).map_or((rate, 0.0), |o| (o.target_rate, o.achieved_rate));
        let run_seconds = run.config.duration_seconds + run.config.warmup_seconds;
        let stationarity = stationarity(&run.timeline, run_seconds, planned_rps, achieved_rps);
        Ok(SweepStep {
            offered_rps: rate,
            achieved_rps,
            successes_rps: run.total.rps,
            latency: run.total.latency,
            error_rate: run.total.error_rate,
            cpu_us_per_request: Figure::CpuPerRequest.of(&run),
            stationary: stationarity.reasons.is_empty(),
            stationarity,
            valid: run.validity.valid,
            run,
        })
    }

    /// One run of `load`, at least `drain` after the run before it, on fresh
    /// data when the steps reset. The reset counts toward the drain: the
    /// run before was given its grace period to be answered, so what is
    /// left for the server is short, and the reset waits for any
    /// transaction still open.
    fn measure(&self, load: &Load, drain: Duration) -> anyhow::Result<RunRecord> {
        let drained = Instant::now() + drain;
        if let Some(url) = &self.database_url {
            (self.runtime).block_on(load::reset_database(url, &self.scenario))?;
        }
        std::thread::sleep(drained.saturating_duration_since(Instant::now()));
        let requested = (self.args.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let threads = crate::engine::threads_for(load, crate::scenario::Shard::WHOLE, requested);
        let config = runner::config_of(
            load,
            threads,
            self.args.seed,
            self.database_url.is_some(),
            self.args.tolerance.tolerance(),
        );
        Ok(runner::measure(
            &self.scenario,
            load,
            config,
            self.destination.clone(),
            self.identity.clone(),
            self.server.as_ref().map(ServerProcess::pid),
            runner::Progress::Quiet,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_fractions, Fractions};

    #[test]
    fn fractions_run_from_their_start_to_their_end_by_their_step() {
        let fractions = parse_fractions("0.1:1.2:0.1").unwrap().0;
        assert_eq!(fractions.len(), 12);
        assert!((fractions[0] - 0.1).abs() < 1e-12 && (fractions[11] - 1.2).abs() < 1e-9);
        assert_eq!(parse_fractions("0.5:0.5:0.1").unwrap().0, vec![0.5]);
        assert!(parse_fractions("1.2:0.1:0.1")
            .unwrap_err()
            .contains("TO is below FROM"));
        assert!(parse_fractions("0.1:1.2")
            .unwrap_err()
            .contains("FROM:TO:BY"));
        assert!(parse_fractions("0.1:1000:0.1")
            .unwrap_err()
            .contains("at most 100"));
    }

    /// A fractions flag is one value: clap hands its whole list to the
    /// field (a `Vec` field would ask clap for many values, and panic).
    #[test]
    fn fractions_flags_parse_into_their_fields() {
        use clap::Parser;
        #[derive(Parser)]
        struct Sweep {
            #[command(flatten)]
            args: crate::commands::sweep::SweepArgs,
        }
        #[derive(Parser)]
        struct Compare {
            #[command(flatten)]
            args: crate::commands::compare::CompareArgs,
        }
        let half_and_all = Some(Fractions(vec![0.5, 1.0]));
        let sweep = ["sweep", "--scenario", "orders", "--fractions", "0.5:1:0.5"];
        assert_eq!(
            Sweep::try_parse_from(sweep).unwrap().args.fractions,
            half_and_all
        );
        let compare = "compare --scenario orders --capacity p99<20ms --sweep 0.5:1:0.5";
        let compare = Compare::try_parse_from(compare.split(' ')).unwrap();
        assert_eq!(compare.args.sweep, half_and_all);
        let without_capacity = ["compare", "--scenario", "orders", "--sweep", "0.5:1:0.5"];
        assert!(Compare::try_parse_from(without_capacity).is_err());
    }
}
