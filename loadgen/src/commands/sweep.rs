//! `loadgen sweep`: latency against offered load. Open-model steps at a
//! list of rates, each with its own warm-up after a pause in which the
//! server drains what the step before left, each on fresh data. Per step
//! the offered and achieved rates, latency from the plan, errors, server
//! CPU per request, whether the generator kept up and whether the server
//! did (`measure::sweep`): the curve an operator reads "how much load
//! within my latency target" from.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::commands::load::{self, ToleranceArgs};
use crate::commands::places::Places;
use crate::commands::run::{start_target, TargetArgs};
use crate::engine::Destination;
use crate::measure::figure::Figure;
use crate::measure::record::{self, Header, Identity, RunRecord};
use crate::measure::sweep::{self, stationarity, SweepRecord, SweepStep};
use crate::report::{html, text};
use crate::runner;
use crate::scenario::{self, Arrivals, Load, Model, Scenario};
use crate::server::{self, ServerProcess, TargetSpec};

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Scenario: a path to a TOML file, or a shipped name (e.g. orders).
    #[arg(long)]
    pub scenario: String,
    /// A stack by name (loadgen starts it) or the http://host:port of a
    /// running server, as for `run`.
    #[arg(long, default_value = "axum")]
    pub target: String,
    /// The steps' rates in req/s, in the order given: 500,1000,2000.
    #[arg(long, value_delimiter = ',', value_parser = positive, conflicts_with = "fractions",
          required_unless_present = "fractions")]
    pub rates: Vec<f64>,
    /// Steps at fractions of a maximum, FROM:TO:BY (0.1:1.2:0.1): of
    /// --max-rps, else of the throughput a closed run of the scenario's
    /// connections measures first (one step's length).
    #[arg(long, value_parser = parse_fractions)]
    pub fractions: Option<Vec<f64>>,
    /// The maximum --fractions are taken of, req/s.
    #[arg(long, value_parser = positive, requires = "fractions")]
    pub max_rps: Option<f64>,
    /// Measured time of each step, at least 3 s: stationarity compares its
    /// first and last thirds second by second, and with 6 s or more each
    /// third holds two seconds, so that one stalled second is not a queue.
    #[arg(long, default_value = "6s", value_parser = step_length)]
    pub step: Duration,
    /// Unmeasured start of each step.
    #[arg(long, default_value = "1s", value_parser = scenario::parse_duration)]
    pub warmup: Duration,
    /// Pause before each step, for the server to drain the step before.
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
    /// Where to save the record (JSON; the HTML report goes beside it)
    /// [default: <results-dir>/sweep-<scenario>-<target>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    #[command(flatten)]
    pub places: Places,
}

fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(value),
        _ => Err(format!("expected a positive number, not {text:?}")),
    }
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

/// FROM:TO:BY as the fractions from FROM to TO (within rounding) by BY.
fn parse_fractions(text: &str) -> Result<Vec<f64>, String> {
    let parts: Vec<f64> = (text.split(':'))
        .map(positive)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--fractions FROM:TO:BY, e.g. 0.1:1.2:0.1: {e}"))?;
    let [from, to, by] = parts[..] else {
        return Err(format!(
            "--fractions FROM:TO:BY, e.g. 0.1:1.2:0.1, not {text:?}"
        ));
    };
    if to < from {
        return Err(format!("--fractions {text}: TO is below FROM"));
    }
    let count = ((to - from) / by + 1e-9).floor() as usize + 1;
    if count > 100 {
        return Err(format!("--fractions {text}: {count} steps; at most 100"));
    }
    Ok((0..count).map(|i| from + i as f64 * by).collect())
}

pub fn sweep(runtime: &tokio::runtime::Runtime, args: SweepArgs) -> anyhow::Result<u8> {
    let scenario = scenario::find(&args.scenario)?;
    let target = server::parse_target(&args.target)?;
    let reset = match target {
        TargetSpec::Server(_) => !args.no_reset,
        TargetSpec::Url { .. } => args.reset_db,
    };
    let (server, destination, identity) = start_target(
        runtime,
        target,
        &TargetArgs {
            places: &args.places,
            driver: args.driver.as_deref(),
            pin_server: None,
        },
        reset.then_some(&scenario),
    )?;
    let steps = Steps {
        runtime,
        args: &args,
        scenario: &scenario,
        destination,
        identity: identity.clone(),
        server: server.as_ref(),
        database_url: match reset {
            true => Some(runtime.block_on(args.places.data.database_url())?),
            false => None,
        },
    };
    let (rates, rates_from) = steps.rates()?;
    eprintln!(
        "sweep: {} steps of {:.1} s (+{:.1} s warm-up, {:.1} s drain) against {}",
        rates.len(),
        args.step.as_secs_f64(),
        args.warmup.as_secs_f64(),
        args.drain.as_secs_f64(),
        identity.url
    );
    let mut measured = Vec::new();
    for (i, &rate) in rates.iter().enumerate() {
        let step = steps.step(rate)?;
        eprintln!("{}", text::sweep_step_line(i + 1, rates.len(), &step));
        measured.push(step);
    }
    if let Some(server) = server {
        server.stop()?;
    }
    let sweep = SweepRecord {
        header: Header::now(sweep::SCHEMA, &scenario.name),
        target: identity,
        step_seconds: args.step.as_secs_f64(),
        warmup_seconds: args.warmup.as_secs_f64(),
        drain_seconds: args.drain.as_secs_f64(),
        rates_from,
        steps: measured,
    };
    print!("{}", text::sweep(&sweep));
    let path = args.out.clone().unwrap_or_else(|| {
        args.places.results_dir.join(format!(
            "sweep-{}-{}-{}.json",
            scenario.name,
            sweep.target.server,
            load::timestamp()
        ))
    });
    save(&sweep, &path)?;
    println!("saved {} and its report beside it", path.display());
    Ok(0)
}

/// Saves the record and its HTML report beside it.
pub fn save(sweep: &SweepRecord, path: &std::path::Path) -> anyhow::Result<()> {
    record::save(sweep, path)?;
    let html_path = path.with_extension("html");
    std::fs::write(&html_path, html::sweep(sweep)?)
        .with_context(|| format!("writing {}", html_path.display()))
}

/// What every step of one sweep shares.
struct Steps<'a> {
    runtime: &'a tokio::runtime::Runtime,
    args: &'a SweepArgs,
    scenario: &'a Scenario,
    destination: Destination,
    identity: Identity,
    server: Option<&'a ServerProcess>,
    /// The database reset before each step, if any.
    database_url: Option<String>,
}

impl Steps<'_> {
    /// The steps' rates, and where they came from (for the record).
    fn rates(&self) -> anyhow::Result<(Vec<f64>, String)> {
        let Some(fractions) = &self.args.fractions else {
            return Ok((self.args.rates.clone(), "--rates".to_string()));
        };
        let (max, from) = match self.args.max_rps {
            Some(max) => (max, format!("--max-rps {max}")),
            None => {
                let closed = load::closed_load(self.scenario, self.args.step, self.args.warmup);
                let record = self.measure(&closed)?;
                let max = record.total.rps;
                if max.is_nan() || max <= 0.0 {
                    bail!(
                        "the closed run that measures the maximum had no success ({} errors): \
                         is the server answering? Give --max-rps or --rates instead",
                        record.total.error_count()
                    );
                }
                eprintln!("sweep: the maximum, a closed run of the scenario's connections: {max:.1} req/s");
                (max, format!("a closed run's throughput, {max:.1} req/s"))
            }
        };
        let rates = fractions.iter().map(|f| f * max).collect();
        Ok((rates, format!("fractions of {from}")))
    }

    /// One open-model step at `rate`, after the drain and on fresh data.
    fn step(&self, rate: f64) -> anyhow::Result<SweepStep> {
        std::thread::sleep(self.args.drain);
        let (max_inflight, arrivals) = match self.scenario.load.model {
            Model::Open {
                max_inflight,
                arrivals,
                ..
            } => (max_inflight, arrivals),
            Model::Closed { .. } => (load::DEFAULT_MAX_INFLIGHT, Arrivals::default()),
        };
        let open = Load {
            model: Model::Open {
                rate,
                max_inflight: self.args.max_inflight.unwrap_or(max_inflight),
                arrivals: self.args.arrivals.unwrap_or(arrivals),
            },
            duration: self.args.step,
            warmup: self.args.warmup,
            stages: None,
            ..self.scenario.load.clone()
        };
        let run = self.measure(&open)?;
        let achieved_rps = run.open_model.as_ref().map_or(0.0, |o| o.achieved_rate);
        let run_seconds = run.config.duration_seconds + run.config.warmup_seconds;
        let stationarity = stationarity(&run.timeline, run_seconds, rate, achieved_rps);
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

    /// One run of `load`, on fresh data when the sweep resets.
    fn measure(&self, load: &Load) -> anyhow::Result<RunRecord> {
        if let Some(url) = &self.database_url {
            self.runtime
                .block_on(load::reset_database(url, self.scenario))?;
        }
        let requested = (self.args.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let threads = crate::engine::threads_for(load, requested);
        let tolerance = self.args.tolerance.tolerance();
        let config = runner::config_of(
            load,
            threads,
            self.args.seed,
            self.database_url.is_some(),
            tolerance,
        );
        Ok(runner::measure(
            self.scenario,
            load,
            config,
            self.destination.clone(),
            self.identity.clone(),
            self.server.map(ServerProcess::pid),
            runner::Progress::Quiet,
        ))
    }
}
