//! `loadgen run`: one scenario against one target, printed and saved.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::commands::load::{self, LoadArgs};
use crate::commands::places::Places;
use crate::engine::Destination;
use crate::measure::record::{self, Identity, RunRecord, ThresholdResult};
use crate::measure::steps::new_histogram;
use crate::runner;
use crate::scenario::threshold::{LatencyStat, Observed, Threshold};
use crate::scenario::Scenario;
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
}

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
    let threads = args.load.threads(&load);
    let tolerance = args.load.tolerance.tolerance();
    let mut config = runner::config_of(
        &load,
        threads,
        args.load.seed,
        !args.load.no_reset,
        tolerance,
    );
    let target = server::parse_target(&args.target)?;
    // The database behind a URL is the user's business unless they ask.
    config.reset = match target {
        TargetSpec::Server(_) => !args.load.no_reset,
        TargetSpec::Url { .. } => args.reset_db,
    };
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
    eprintln!(
        "running {} against {} for {:.1} s ({:.1} s warm-up)...",
        scenario.name,
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
    // An invalid run's figures are partly loadgen's: its thresholds are not
    // judged, and it exits with its own status.
    let passed = record.validity.valid && check_thresholds(&mut record, &thresholds);
    print!("{}", crate::report::text::run(&record, args.latency));
    let path = args.out.unwrap_or_else(|| {
        args.places.results_dir.join(format!(
            "run-{}-{}-{}.json",
            scenario.name,
            record.target.server,
            load::timestamp()
        ))
    });
    record::save(&record, &path)?;
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
