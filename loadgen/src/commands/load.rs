//! The load flags `run` and `compare` share, and what they share around a
//! run: the scenario and its load resolved from the flags, the database
//! reset, the time stamp in result file names.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::engine;
use crate::measure::record::GeneratorTolerance;
use crate::scenario::{self, Arrivals, Load, Model, Scenario, Shard};

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Scenario: a path to a TOML file, or a name: ./scenarios/NAME.toml if
    /// there is one, else the shipped scenario of that name, embedded in
    /// loadgen (e.g. orders; an unknown name lists them).
    #[arg(long)]
    pub scenario: String,
    /// Closed model: connections, each sending its next request when the last one answers.
    #[arg(long, conflicts_with = "rate")]
    pub connections: Option<u32>,
    /// Open model: requests per second, sent on schedule whatever the answers
    /// (latency counted from the planned send time). For `compare`: the rate
    /// of the latency phase [default: 70% of the slowest stack's throughput].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open model: most requests in flight (connections) at once; all are
    /// opened before the clock starts [default: 1024; for `compare`'s latency
    /// phase: 4x the throughput phase's connections, within 256-1024].
    #[arg(long)]
    pub max_inflight: Option<u32>,
    /// Open model: how requests are spaced in time, `uniform` (one every
    /// 1/rate s) or `poisson` (exponential gaps of mean 1/rate, as `pgbench
    /// --rate` spaces them) [default: the scenario's, else uniform; for
    /// `compare`'s latency phase: poisson, the database-alone row's process].
    #[arg(long, value_enum)]
    pub arrivals: Option<Arrivals>,
    /// Measured time after the warm-up, e.g. 30s, 2m [default: the
    /// scenario's; for `compare`, 4s per run].
    #[arg(long, value_parser = scenario::parse_duration)]
    pub duration: Option<Duration>,
    /// Time at the start whose requests are sent but not counted [default:
    /// the scenario's; for `compare`, 2s per run].
    #[arg(long, value_parser = scenario::parse_duration)]
    pub warmup: Option<Duration>,
    /// Per-request timeout, counted from the planned send time; a timed-out
    /// request is an error with that latency.
    #[arg(long, value_parser = scenario::parse_duration)]
    pub timeout: Option<Duration>,
    /// Ramp stages DURATION:TARGET,..., e.g. 10s:1000,30s:1000,10s:0: targets
    /// are connections in the closed model and req/s in the open model
    /// (--model open). They replace --duration, --connections and --rate;
    /// the first --warmup of them is not counted.
    #[arg(long)]
    pub stages: Option<String>,
    /// The load model when neither --rate nor --connections says it
    /// [default: the scenario's]: `closed` or `open`.
    #[arg(long, value_parser = ["closed", "open"])]
    pub model: Option<String>,
    /// Worker threads [default: all cores; never more than the connections].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the request sequence (the same seed sends the same requests).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not reset the database to the scenario's dataset first (a server
    /// that loadgen starts; a URL target's database is reset only with --reset-db).
    #[arg(long)]
    pub no_reset: bool,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
}

/// When a run is invalid because its generator fell behind: `run`,
/// `compare` and `gate` take these.
#[derive(Args, Debug, Clone)]
pub struct ToleranceArgs {
    /// Open model: a request the generator sends this long after a
    /// connection was free for it is late by its own fault...
    #[arg(long, env = "LOADGEN_GENERATOR_LATE_BY", default_value = "1ms", value_parser = scenario::parse_duration)]
    pub generator_late_by: Duration,
    /// ...and a run with more than this percentage of such requests is
    /// invalid: loadgen says why; `run` exits 97 with its thresholds
    /// unjudged, `compare` leaves it out of its figures, `gate` runs the
    /// window again (twice at most) and then leaves it out.
    #[arg(long, env = "LOADGEN_GENERATOR_LATE_SHARE", default_value_t = 1.0, value_parser = percent)]
    pub generator_late_share: f64,
}

impl ToleranceArgs {
    /// How far behind the generator may fall, from the flags.
    pub fn tolerance(&self) -> GeneratorTolerance {
        GeneratorTolerance {
            late_by_us: self.generator_late_by.as_micros() as u64,
            share: self.generator_late_share / 100.0,
        }
    }
}

/// A flag's positive, finite number.
pub fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(value),
        _ => Err(format!("expected a positive number, not {text:?}")),
    }
}

/// A flag's percentage, 0 to 100, with or without its `%`.
pub fn percent(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(value) if (0.0..=100.0).contains(&value) => Ok(value),
        _ => Err(format!("expected a percentage from 0 to 100, not {text:?}")),
    }
}

/// The open model's cap on requests in flight when nothing else says it.
pub const DEFAULT_MAX_INFLIGHT: u32 = 1024;
/// The closed model's connections when `--model closed` overrides an open scenario.
const DEFAULT_CONNECTIONS: u32 = 32;

impl LoadArgs {
    /// The scenario with the command line's overrides applied and checked.
    pub fn resolve(&self) -> anyhow::Result<(Scenario, Load)> {
        let scenario = scenario::find(&self.scenario)?;
        let mut load = scenario.load.clone();
        if self.stages.is_some() && (self.rate.is_some() || self.connections.is_some()) {
            bail!(
                "--stages replaces --rate and --connections: each stage's target is the rate \
                 (req/s, open model) or the connections (closed model). Drop --rate/--connections \
                 and choose the model with --model open or --model closed"
            );
        }
        let (scenario_rate, max_inflight, arrivals) = match load.model {
            Model::Open {
                rate,
                max_inflight,
                arrivals,
            } => (rate, max_inflight, arrivals),
            Model::Closed { .. } => (0.0, DEFAULT_MAX_INFLIGHT, Arrivals::default()),
        };
        let open = |rate| Model::Open {
            rate,
            max_inflight: self.max_inflight.unwrap_or(max_inflight),
            arrivals: self.arrivals.unwrap_or(arrivals),
        };
        match (self.rate, self.connections, self.model.as_deref()) {
            (Some(_), _, Some("closed")) | (_, Some(_), Some("open")) => {
                bail!("--model contradicts the model that --rate (open) or --connections (closed) implies")
            }
            (Some(rate), _, _) => load.model = open(rate),
            (None, Some(connections), _) => load.model = Model::Closed { connections },
            (None, None, Some("open")) => {
                if scenario_rate == 0.0 && self.stages.is_none() {
                    bail!("--model open needs a rate: give --rate R or --stages");
                }
                load.model = open(scenario_rate);
            }
            (None, None, Some(_)) => {
                if let Model::Open { .. } = load.model {
                    load.model = Model::Closed {
                        connections: DEFAULT_CONNECTIONS,
                    };
                }
            }
            (None, None, None) => {
                if let Model::Open { rate, .. } = load.model {
                    load.model = open(rate);
                }
            }
        }
        if let Some(duration) = self.duration {
            load.duration = duration;
            load.stages = None;
        }
        if let Some(warmup) = self.warmup {
            load.warmup = warmup;
        }
        if let Some(timeout) = self.timeout {
            load.timeout = timeout;
        }
        if let Some(stages) = &self.stages {
            load.stages = Some(scenario::parse_stages(stages).map_err(anyhow::Error::msg)?);
        }
        scenario::check_load(&load).map_err(anyhow::Error::msg)?;
        Ok((scenario, load))
    }

    /// Worker threads for `shard` of `load`: as asked [default: all
    /// cores], but no more than its connections.
    pub fn threads(&self, load: &Load, shard: Shard) -> usize {
        let requested = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        engine::threads_for(load, shard, requested)
    }
}

/// A closed-model load of `scenario` for `duration` after `warmup`: as many
/// connections as it has, or as it allows in flight (at most 64), so that
/// the server is kept busy: its throughput. `gate` and `sweep` measure it.
pub fn closed_load(scenario: &Scenario, duration: Duration, warmup: Duration) -> Load {
    Load {
        model: Model::Closed {
            connections: match scenario.load.model {
                Model::Closed { connections } => connections,
                Model::Open { max_inflight, .. } => max_inflight.min(64),
            },
        },
        duration,
        warmup,
        stages: None,
        ..scenario.load.clone()
    }
}

/// Resets the database at `url` to the scenario's dataset (refused unless
/// stackbench created that database).
pub async fn reset_database(url: &str, scenario: &Scenario) -> anyhow::Result<()> {
    let client = schema::connect(url).await?;
    schema::seed::reset(&client, scenario.dataset)
        .await
        .context("resetting the database")
}

/// A UTC time stamp for result file names.
pub fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}
