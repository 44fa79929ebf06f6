//! `loadgen run`: one scenario against one target, printed and saved.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;

use crate::commands::load::{self, LoadArgs};
use crate::commands::places::Places;
use crate::engine;
use crate::engine::Destination;
use crate::measure::frame;
use crate::measure::record::{self, Identity, RunRecord, ShardPlan, ThresholdResult};
use crate::measure::steps::new_histogram;
use crate::runner;
use crate::scenario::threshold::{LatencyStat, Observed, Threshold};
use crate::scenario::{self, Load, Scenario, Shard};
use crate::server::{self, ServerBinary, ServerProcess, TargetSpec};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// A stack by name: hyper, axum, actix, go-nethttp, bun or bun-hono
    /// (loadgen resets the database, then starts the stack's binary on its
    /// own port, 3000 to 3005, or a free port if that is taken; `loadgen
    /// stacks` lists them), or the http://host:port of a running server
    /// (loadgen then touches no database unless --reset-db).
    #[arg(long, default_value = "axum")]
    pub target: String,
    /// For a URL target: reset the database to the scenario's dataset first.
    /// It resets DATABASE_URL's database, or the managed cluster's, so the
    /// server must use that one; and only a database stackbench created
    /// (`loadgen db create`) is reset. Without it, a URL target's run does
    /// not connect to any database.
    #[arg(long, conflicts_with = "no_reset")]
    pub reset_db: bool,
    #[command(flatten)]
    pub places: Places,
    /// Database driver of a stack that loadgen starts [default: the
    /// stack's first: tokio-postgres for the Rust ones, lib/pq for Go,
    /// bun-sql for Bun].
    #[arg(long, value_parser = server::driver_names())]
    pub driver: Option<String>,
    /// Pass/fail rule, repeatable: "p99 < 20ms", "error_rate < 0.1%", "rps > 5000"
    /// (percentiles over every request, unanswered ones included; rps counts
    /// successes). A breached threshold makes loadgen exit with status 99.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Also print the full percentile distribution, as HdrHistogram does.
    #[arg(long)]
    pub latency: bool,
    /// Pin loadgen's threads to these CPUs (e.g. 1 or 2-3), with the OS affinity call.
    #[arg(long, value_parser = crate::server::affinity::parse_cpus)]
    pub pin_loadgen: Option<crate::server::affinity::Cpus>,
    /// Pin a server that loadgen starts to these CPUs.
    #[arg(long, value_parser = crate::server::affinity::parse_cpus)]
    pub pin_server: Option<crate::server::affinity::Cpus>,
    /// Where to save the run record (JSON)
    /// [default: <results-dir>/run-<scenario>-<target>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub split: SplitArgs,
}

/// How one run is split across generators (each a `loadgen run`, on one
/// machine or many): `run` and `k8s render` take these.
#[derive(Args, Debug, Clone)]
pub struct SplitArgs {
    /// Send shard I of a run split across N generators (e.g. 0/4): the open
    /// model's planned requests j with j mod N = I, or the closed model's
    /// connections i with i mod N = I, all on the plan of the whole run from
    /// --start-at. The shard prints its record as one framed line on
    /// standard output and exits 0 once it has one; `loadgen merge` makes
    /// the shards' records one run and judges its thresholds. Needs a URL
    /// --target (the server runs on its own) and --start-at.
    #[arg(long, conflicts_with = "shard_count", requires = "start_at")]
    pub shard: Option<Shard>,
    /// As --shard, with the shard's index from the JOB_COMPLETION_INDEX
    /// variable that a Kubernetes Indexed Job sets in each pod.
    #[arg(long, requires = "start_at", value_parser = clap::value_parser!(u32).range(1..))]
    pub shard_count: Option<u32>,
    /// When the shards start together (the warm-up's first instant), in RFC
    /// 3339, e.g. 2026-12-01T12:00:30Z: each shard connects, then waits for
    /// it. Their clocks must agree (NTP), as the start skew shows.
    #[arg(long, value_parser = parse_start_at)]
    pub start_at: Option<DateTime<Utc>>,
    /// A shard ready later than this after --start-at does not start late:
    /// it exits with status 95, "missed the start".
    #[arg(long, default_value = "50ms", value_parser = scenario::parse_duration)]
    pub max_start_lag: Duration,
}

pub fn parse_start_at(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2026-12-01T12:00:30Z: {e}"))
}

impl SplitArgs {
    /// Which shard this is: from --shard, or --shard-count and
    /// JOB_COMPLETION_INDEX; `None` for a run that is not split.
    pub fn shard(&self) -> anyhow::Result<Option<Shard>> {
        match (self.shard, self.shard_count) {
            (Some(shard), _) => Ok(Some(shard)),
            (None, Some(count)) => {
                let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                    anyhow::anyhow!(
                        "--shard-count takes the shard's index from JOB_COMPLETION_INDEX, which a \
                         Kubernetes Indexed Job sets, and it is not set: give --shard I/N instead"
                    )
                })?;
                let shard = format!("{}/{count}", index.trim()).parse();
                shard.map(Some).map_err(|e: String| {
                    anyhow::anyhow!(
                        "JOB_COMPLETION_INDEX={index:?} with --shard-count {count}: {e}"
                    )
                })
            }
            (None, None) if self.start_at.is_some() => {
                bail!("--start-at starts the shards of a split run: give --shard I/N or --shard-count N with it")
            }
            (None, None) => Ok(None),
        }
    }

    /// The shard's plan, checked against the load and the scenario: a
    /// shard with no connection, or with no key of a `partition`, is refused.
    pub fn plan(
        &self,
        scenario: &Scenario,
        load: &Load,
        thresholds: &[Threshold],
    ) -> anyhow::Result<Option<ShardPlan>> {
        let Some(shard) = self.shard()? else {
            return Ok(None);
        };
        check_shard(scenario, load, shard)?;
        Ok(Some(ShardPlan {
            shard,
            start_at: self
                .start_at
                .expect("clap requires --start-at with a shard"),
            thresholds: thresholds.iter().map(|t| t.text.clone()).collect(),
        }))
    }
}

/// Checks that `shard` has work in this run: at least one of the load's
/// connections, and a key of every `partition` in the scenario. `loadgen run
/// --shard` checks its own shard, `loadgen k8s render` every shard of the Job.
pub fn check_shard(scenario: &Scenario, load: &Load, shard: Shard) -> anyhow::Result<()> {
    let connections = engine::connections(load);
    if shard.connections(connections).next().is_none() {
        bail!(
            "shard {shard} would open none of the run's {connections} connections: \
             split it into {connections} shards at most"
        );
    }
    scenario.check_shard(shard).map_err(anyhow::Error::msg)
}

/// Exit status of a shard that was not ready by its start (and the lag
/// allowed): it sent nothing, rather than send late.
pub const MISSED_START_EXIT: u8 = 95;

/// Exit status of a run whose thresholds failed (k6's convention).
pub const THRESHOLD_EXIT: u8 = 99;
/// Exit status of an invalid run: its generator fell behind, so neither a
/// pass nor a failure of its thresholds would be the server's.
pub const INVALID_EXIT: u8 = 97;

/// Checks the thresholds against the total figures.
pub fn check_thresholds(record: &mut RunRecord, thresholds: &[Threshold]) -> bool {
    let histogram = record.total.histogram().unwrap_or_else(|_| new_histogram());
    let latency = |stat: LatencyStat| match stat {
        LatencyStat::Mean => histogram.mean(),
        LatencyStat::Max => histogram.max() as f64,
        LatencyStat::Percentile(p) => histogram.value_at_quantile(p / 100.0) as f64,
    };
    let observed = Observed {
        latency_us: &latency,
        error_rate: record.total.error_rate,
        rps: record.total.rps,
    };
    record.thresholds = thresholds
        .iter()
        .map(|threshold| {
            let (value, pass) = threshold.check(&observed);
            ThresholdResult {
                threshold: threshold.text.clone(),
                observed: threshold.format_value(value),
                pass,
            }
        })
        .collect();
    record.thresholds.iter().all(|t| t.pass)
}

pub fn run(runtime: &tokio::runtime::Runtime, args: RunArgs) -> anyhow::Result<u8> {
    let (scenario, load) = args.load.resolve()?;
    let mut thresholds: Vec<Threshold> = scenario.thresholds.clone();
    for text in &args.thresholds {
        thresholds.push(text.parse().map_err(anyhow::Error::msg)?);
    }
    let plan = args.split.plan(&scenario, &load, &thresholds)?;
    let shard = plan.as_ref().map_or(Shard::WHOLE, |plan| plan.shard);
    let threads = args.load.threads(&load, shard);
    let tolerance = args.load.tolerance.tolerance();
    let mut config = runner::config_of(
        &load,
        threads,
        args.load.seed,
        !args.load.no_reset,
        tolerance,
    );
    let target = server::parse_target(&args.target)?;
    if plan.is_some() && (matches!(target, TargetSpec::Server(_)) || args.reset_db) {
        bail!(
            "a shard sends part of a run to a server that runs on its own, whose database is reset \
             once before the shards start (`loadgen db reset`): give --target http://HOST:PORT, \
             without --reset-db"
        );
    }
    if let (Some(plan), TargetSpec::Url { addresses, .. }) = (&plan, &target) {
        await_target(runtime, addresses, plan.start_at);
    }
    // The database behind a URL is the user's business unless they ask.
    config.reset = match target {
        TargetSpec::Server(_) => !args.load.no_reset,
        TargetSpec::Url { .. } => args.reset_db,
    };
    config.shard = plan;
    let Started {
        server,
        destination,
        identity,
        ..
    } = start_target(
        runtime,
        target,
        &TargetArgs {
            places: &args.places,
            driver: args.driver.as_deref(),
            pin_server: args.pin_server.as_ref(),
        },
        config.reset.then_some(&scenario),
    )?;
    let missed =
        (config.shard.as_ref()).and_then(|plan| missed_start(plan, args.split.max_start_lag));
    if let Some(message) = missed {
        eprintln!("loadgen: {message}");
        return Ok(MISSED_START_EXIT);
    }
    eprintln!(
        "running {}{} against {} for {:.1} s ({:.1} s warm-up)...",
        scenario.name,
        (config.shard.as_ref())
            .map(|plan| format!(
                " (shard {} from {})",
                plan.shard,
                plan.start_at.to_rfc3339()
            ))
            .unwrap_or_default(),
        identity.url,
        load.total().as_secs_f64(),
        load.warmup.as_secs_f64()
    );
    if let Some(cpus) = &args.pin_loadgen {
        crate::server::affinity::pin_self(&cpus.0).context("pinning loadgen")?;
    }
    let server_pid = server.as_ref().map(ServerProcess::pid);
    let mut record = runner::measure(
        &scenario,
        &load,
        config,
        destination,
        identity,
        server_pid,
        runner::Progress::Live,
    );
    if let Some(server) = server {
        server.stop()?;
    }
    let path = (args.out.clone()).unwrap_or_else(|| default_path(&args.places, &scenario, &record));
    if record.config.shard.is_some() {
        // A shard's figures are a part of the run: `merge` judges the
        // whole, and the shard's status says only that it has its record.
        began_late(&mut record, args.split.max_start_lag);
        conclude(&mut record, &[], args.latency, &path)?;
        println!("{}", frame::frame(&record));
        return Ok(0);
    }
    conclude(&mut record, &thresholds, args.latency, &path)
}

/// Where a run's record goes when --out does not say.
fn default_path(places: &Places, scenario: &Scenario, record: &RunRecord) -> PathBuf {
    let shard = (record.config.shard.as_ref())
        .map(|plan| format!("shard-{}-of-{}-", plan.shard.index, plan.shard.count))
        .unwrap_or_default();
    let server = &record.target.server;
    let name = format!(
        "run-{}-{server}-{shard}{}.json",
        scenario.name,
        load::timestamp()
    );
    places.results_dir.join(name)
}

/// Why a shard does not start, when it is ready later than `max_lag`
/// after its start.
fn missed_start(plan: &ShardPlan, max_lag: Duration) -> Option<String> {
    let late = (Utc::now() - plan.start_at).to_std().ok()?;
    (late > max_lag).then(|| {
        format!(
            "shard {} missed the start: ready {} after {}, more than --max-start-lag {}; it sent \
             nothing, and the run cannot be merged without it",
            plan.shard,
            crate::units::format_us(late.as_micros() as f64),
            plan.start_at.to_rfc3339(),
            crate::units::format_us(max_lag.as_micros() as f64),
        )
    })
}

/// A shard waits for its server until the start: in a cluster, the
/// generators may be up before it. Then the server is reached, or the
/// shard says it cannot be.
fn await_target(runtime: &tokio::runtime::Runtime, addresses: &[SocketAddr], until: DateTime<Utc>) {
    runtime.block_on(async {
        while server::reachable(addresses).await.is_none() && Utc::now() < until {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
}

/// A shard whose threads began sending later than `max_lag` after the
/// start (ready in time, then held up) did not send its part with the
/// others: its run is invalid, and so is the merged one.
fn began_late(record: &mut RunRecord, max_lag: Duration) {
    let lag = Duration::from_micros(record.generator.start_lag_us);
    if lag > max_lag {
        let mut reasons = std::mem::take(&mut record.validity.reasons);
        reasons.push(format!(
            "the generator began {} after the shared start, more than --max-start-lag {}: \
             its part of the run was sent late",
            crate::units::format_us(lag.as_micros() as f64),
            crate::units::format_us(max_lag.as_micros() as f64)
        ));
        record.validity = record::Validity::of(reasons);
    }
}

/// Judges a whole run's thresholds, prints and saves its record, and
/// returns its exit status: `run` and `merge` end so.
pub fn conclude(
    record: &mut RunRecord,
    thresholds: &[Threshold],
    full_distribution: bool,
    path: &std::path::Path,
) -> anyhow::Result<u8> {
    // An invalid run's figures are partly loadgen's: its thresholds are not
    // judged, and it exits with its own status.
    let passed = record.validity.valid && check_thresholds(record, thresholds);
    print!("{}", crate::report::text::run(record, full_distribution));
    record::save(record, path)?;
    println!("saved {}", path.display());
    Ok(match (record.validity.valid, passed) {
        (false, _) => INVALID_EXIT,
        (true, true) => 0,
        (true, false) => THRESHOLD_EXIT,
    })
}

/// How a stack that loadgen starts is started: `run` and `sweep` share it.
pub struct TargetArgs<'a> {
    pub places: &'a Places,
    pub driver: Option<&'a str>,
    pub pin_server: Option<&'a crate::server::affinity::Cpus>,
}

/// A target that [`start_target`] started.
pub struct Started {
    /// The server loadgen started, if any.
    pub server: Option<ServerProcess>,
    pub destination: Destination,
    pub identity: Identity,
    /// The database it reset, when it reset one: the one to reset again.
    pub reset_url: Option<String>,
}

/// Starts the target: a stack by name (its database reset to `reset`'s
/// dataset first, when given), or a running server's URL (its database
/// reset only when given, which the caller decides).
pub fn start_target(
    runtime: &tokio::runtime::Runtime,
    target: TargetSpec,
    how: &TargetArgs,
    reset: Option<&Scenario>,
) -> anyhow::Result<Started> {
    let data = &how.places.data;
    runtime.block_on(async {
        match target {
            TargetSpec::Server(name) => {
                // A missing binary fails before the reset.
                let spec = ServerBinary::builtin(&name, how.places.bin_dir.as_deref())?;
                let driver = spec.driver(how.driver)?;
                let url = data.database_url().await?;
                if let Some(scenario) = reset {
                    load::reset_database(&url, scenario).await?;
                }
                let pin = how.pin_server.map(|cpus| cpus.0.as_slice());
                let server = ServerProcess::start(&spec, driver, &url, None, pin).await?;
                Ok(Started {
                    destination: server.destination(),
                    identity: server.identity.clone(),
                    server: Some(server),
                    reset_url: reset.map(|_| url),
                })
            }
            TargetSpec::Url {
                addresses,
                authority,
                url,
            } => {
                let mut reset_url = None;
                if let Some(scenario) = reset {
                    eprintln!(
                        "--reset-db: resetting DATABASE_URL's database, or the managed cluster's; \
                         the server at {url} must use the same one"
                    );
                    let database = data.database_url().await?;
                    load::reset_database(&database, scenario).await?;
                    reset_url = Some(database);
                }
                // Any HTTP server will do: only that it accepts connections is checked.
                if server::reachable(&addresses).await.is_none() {
                    bail!("cannot connect to {url}: is the server running?");
                }
                let destination = Destination {
                    addresses,
                    host: authority,
                };
                let identity = Identity {
                    server: "external".into(),
                    driver: None,
                    version: None,
                    url,
                };
                Ok(Started {
                    server: None,
                    destination,
                    identity,
                    reset_url,
                })
            }
        }
    })
}
