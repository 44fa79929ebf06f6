//! `loadgen run`: one scenario against one target, printed and saved.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use hdrhistogram::Histogram;

use crate::engine::{self, RunSpec, Tick};
use crate::measure::record::Identity;
use crate::measure::record::{
    self, Figures, Generator, OpenModel, RunConfig, RunRecord, ThresholdResult,
};
use crate::measure::stats::new_histogram;
use crate::scenario::threshold::{LatencyStat, Observed, Threshold};
use crate::scenario::{self, Load, Model, Scenario};
use crate::stack::{self, ServerProcess, TargetSpec};

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Scenario: a name from scenarios/ (e.g. orders) or a path to a TOML file.
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
    /// Open model: most requests in flight (connections) at once.
    #[arg(long)]
    pub max_inflight: Option<u32>,
    /// Measured time after the warm-up, e.g. 30s, 2m.
    #[arg(long, value_parser = scenario::parse_duration)]
    pub duration: Option<Duration>,
    /// Time at the start whose requests are sent but not counted.
    #[arg(long, value_parser = scenario::parse_duration)]
    pub warmup: Option<Duration>,
    /// Per-request timeout.
    #[arg(long, value_parser = scenario::parse_duration)]
    pub timeout: Option<Duration>,
    /// Ramp stages DURATION:TARGET,... (connections, or req/s with --rate),
    /// e.g. 10s:1000,30s:1000,10s:0. They replace --duration; the first
    /// --warmup of them is not counted.
    #[arg(long)]
    pub stages: Option<String>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the request sequence (the same seed sends the same requests).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not reset the database to the scenario's dataset first.
    #[arg(long)]
    pub no_reset: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// hyper, axum or actix (loadgen starts its release binary on port 3000,
    /// 3001 or 3002, or a free port if that is taken), or the
    /// http://host:port of a running server.
    #[arg(long, default_value = "axum")]
    pub target: String,
    /// Database driver of a server that loadgen starts.
    #[arg(long, default_value = "tokio-postgres", value_parser = stack::DRIVERS)]
    pub driver: String,
    /// Pass/fail rule, repeatable: "p99 < 20ms", "error_rate < 0.1%", "rps > 5000".
    /// A breached threshold makes loadgen exit with status 99.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Also print the full percentile distribution, as HdrHistogram does.
    #[arg(long)]
    pub latency: bool,
    /// Pin loadgen's threads to these CPUs (e.g. 1 or 2-3), with the OS affinity call.
    #[arg(long, value_parser = crate::stack::affinity::parse_cpus)]
    pub pin_loadgen: Option<crate::stack::affinity::Cpus>,
    /// Pin a server that loadgen starts to these CPUs.
    #[arg(long, value_parser = crate::stack::affinity::parse_cpus)]
    pub pin_server: Option<crate::stack::affinity::Cpus>,
    /// Where to save the run record (JSON) [default: results/run-<scenario>-<target>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Exit status of a run whose thresholds failed (k6's convention).
pub const THRESHOLD_EXIT: u8 = 99;

impl LoadArgs {
    /// The scenario with the command line's overrides applied and checked.
    pub fn resolve(&self) -> anyhow::Result<(Scenario, Load)> {
        let path = scenario::locate(&self.scenario).map_err(anyhow::Error::msg)?;
        let scenario = scenario::load(&path)?;
        let mut load = scenario.load.clone();
        match (self.rate, self.connections, load.model) {
            (Some(rate), _, Model::Open { max_inflight, .. }) => {
                load.model = Model::Open { rate, max_inflight }
            }
            (Some(rate), _, Model::Closed { .. }) => {
                load.model = Model::Open {
                    rate,
                    max_inflight: 1024,
                }
            }
            (None, Some(connections), _) => load.model = Model::Closed { connections },
            (None, None, _) => {}
        }
        if let (Some(cap), Model::Open { rate, .. }) = (self.max_inflight, load.model) {
            load.model = Model::Open {
                rate,
                max_inflight: cap,
            };
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

    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

/// Resets the database loadgen manages (or DATABASE_URL's) to the dataset.
pub async fn reset_database(scenario: &Scenario) -> anyhow::Result<String> {
    let url = schema::database_url().await?;
    let client = schema::connect(&url).await?;
    schema::seed::reset(&client, scenario.dataset)
        .await
        .context("resetting the database")?;
    Ok(url)
}

pub fn config_of(load: &Load, args: &LoadArgs, threads: usize) -> RunConfig {
    let (model, connections, rate, max_inflight) = match load.model {
        Model::Closed { connections } => ("closed", Some(connections), None, None),
        Model::Open { rate, max_inflight } => ("open", None, Some(rate), Some(max_inflight)),
    };
    RunConfig {
        model: model.to_string(),
        connections,
        rate,
        max_inflight,
        duration_seconds: load.measured().as_secs_f64(),
        warmup_seconds: load.warmup.as_secs_f64(),
        timeout_seconds: load.timeout.as_secs_f64(),
        stages: load.stages.as_ref().map(|stages| {
            stages
                .iter()
                .map(|s| format!("{}s:{}", s.duration.as_secs_f64(), s.target))
                .collect::<Vec<_>>()
                .join(",")
        }),
        threads,
        seed: args.seed,
        reset: !args.no_reset,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

/// Runs the engine with a live line per second on stderr, and returns the record.
pub fn measure(
    scenario: &Scenario,
    load: &Load,
    config: RunConfig,
    address: std::net::SocketAddr,
    host: String,
    target: Identity,
) -> RunRecord {
    let threads = config.threads;
    let spec = Arc::new(RunSpec {
        scenario: scenario.clone(),
        load: load.clone(),
        threads,
        address,
        host,
        seed: config.seed,
    });
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (sender, receiver) = mpsc::channel();
    let engine_spec = Arc::clone(&spec);
    let engine = std::thread::spawn(move || engine::run(engine_spec, sender));
    show_progress(receiver, threads, load);
    let outcome = engine.join().expect("the engine panicked");

    let seconds = load.measured().as_secs_f64();
    let stats = &outcome.stats;
    let mut total = crate::measure::stats::StepStats::default();
    let endpoints = scenario
        .steps()
        .map(|step| {
            total.merge(&stats.steps[step.id]);
            record::Endpoint {
                name: step.label.clone(),
                figures: Figures::of(&stats.steps[step.id], seconds),
            }
        })
        .collect();
    let total = Figures::of(&total, seconds);
    let wall = outcome.wall.as_secs_f64().max(1e-9);
    let thread_cpu_percent: Vec<f64> = outcome
        .thread_cpu
        .iter()
        .map(|cpu| 100.0 * cpu / wall)
        .collect();
    let mut warnings = Vec::new();
    if let Some(busiest) = thread_cpu_percent.iter().cloned().reduce(f64::max) {
        if busiest > 90.0 {
            warnings.push(format!(
                "a loadgen thread used {busiest:.0}% of a core: the generator may be the bottleneck \
                 (add --threads, or pin loadgen and the server to different cores)"
            ));
        }
    }
    let open_model = match load.model {
        Model::Open { rate, max_inflight } => {
            let late = &stats.lateness;
            let achieved = total.requests as f64 / seconds;
            let late_sends = late.count_between(1_001, u64::MAX);
            // A request or two at the very end can miss by rounding; more is a real shortfall.
            if achieved < 0.99 * rate || stats.unsent > 1 + total.requests / 1000 {
                warnings.push(format!(
                    "the target rate was not met ({achieved:.1} of {rate:.1} req/s, {} never sent): \
                     the server could not keep up, or --max-inflight {max_inflight} is too low",
                    stats.unsent
                ));
            }
            // Little's law: requests in flight = rate x time in system.
            let needed = rate * total.uncorrected.mean_us / 1e6;
            if needed > 0.9 * f64::from(max_inflight) {
                warnings.push(format!(
                    "rate x service time = {needed:.0} requests in flight, near or over --max-inflight {max_inflight}: \
                     requests waited in the generator (counted in the corrected latency)"
                ));
            }
            if !late.is_empty() && late_sends as f64 > 0.01 * late.len() as f64 {
                warnings.push(format!(
                    "{late_sends} requests ({:.1}%) went out more than 1 ms after their planned time",
                    100.0 * late_sends as f64 / late.len() as f64
                ));
            }
            Some(OpenModel {
                target_rate: rate,
                achieved_rate: achieved,
                late_sends,
                lateness_p50_us: late.value_at_quantile(0.5),
                lateness_p99_us: late.value_at_quantile(0.99),
                lateness_max_us: late.max(),
                unsent: stats.unsent,
            })
        }
        Model::Closed { .. } => None,
    };
    if stats.in_flight_at_end > 0
        && total.requests > 0
        && stats.in_flight_at_end * 100 > total.requests
    {
        warnings.push(format!(
            "{} requests were still unanswered when the run ended",
            stats.in_flight_at_end
        ));
    }
    RunRecord {
        schema: record::SCHEMA.to_string(),
        scenario: scenario.name.clone(),
        scenario_file: scenario.source.display().to_string(),
        config,
        target,
        machine: record::machine(),
        git_commit: record::git_commit(),
        started_at,
        measured_seconds: seconds,
        total,
        endpoints,
        open_model,
        generator: Generator {
            thread_cpu_percent,
            warnings,
        },
        in_flight_at_end: stats.in_flight_at_end,
        reconnects: stats.reconnects,
        warmup_requests: stats.warmup_requests,
        server_usage: None,
        thresholds: Vec::new(),
    }
}

fn show_progress(ticks: mpsc::Receiver<Tick>, threads: usize, load: &Load) {
    let total = load.total().as_secs();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total.max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}")
                .expect("a valid template"),
        );
        bar
    });
    let warmup = load.warmup.as_secs_f64();
    let target_rate = match load.model {
        Model::Open { rate, .. } => Some(rate),
        Model::Closed { .. } => None,
    };
    let mut pending: BTreeMap<u64, (usize, u64, u64, u64, Histogram<u64>)> = BTreeMap::new();
    for tick in ticks {
        let entry = pending
            .entry(tick.second)
            .or_insert_with(|| (0, 0, 0, 0, new_histogram()));
        entry.0 += 1;
        entry.1 += tick.responses;
        entry.2 += tick.errors;
        entry.3 += tick.in_flight;
        entry.4.add(&tick.latency).expect("same bounds");
        if entry.0 < threads {
            continue;
        }
        let (_, responses, errors, in_flight, latency) =
            pending.remove(&tick.second).expect("present");
        let phase = if (tick.second as f64) <= warmup {
            " (warm-up)"
        } else {
            ""
        };
        let rate = match target_rate {
            Some(target) => format!(" rate {responses}/{target:.0}"),
            None => String::new(),
        };
        let p99 = if latency.is_empty() {
            "-".into()
        } else {
            crate::units::format_us(latency.value_at_quantile(0.99) as f64)
        };
        let line = format!(
            "{responses} req/s, p99 {p99}, {errors} errors, {in_flight} in flight{rate}{phase}"
        );
        match &bar {
            Some(bar) => {
                bar.set_position(tick.second.min(total));
                bar.set_message(line);
            }
            None => eprintln!("[{:>4}s] {line}", tick.second),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

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

pub fn save(record: &RunRecord, path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(record)?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

pub fn results_dir() -> PathBuf {
    crate::workspace_dir().join("results")
}

pub fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

pub fn run(runtime: &tokio::runtime::Runtime, args: RunArgs) -> anyhow::Result<u8> {
    let (scenario, load) = args.load.resolve()?;
    let mut thresholds: Vec<Threshold> = scenario.thresholds.clone();
    for text in &args.thresholds {
        thresholds.push(text.parse().map_err(anyhow::Error::msg)?);
    }
    let threads = args.load.threads();
    let config = config_of(&load, &args.load, threads);
    let target = stack::parse_target(&args.target)?;
    let (server, address, identity) = runtime.block_on(async {
        match target {
            TargetSpec::Server(name) => {
                let url = if args.load.no_reset { schema::database_url().await? } else { reset_database(&scenario).await? };
                let server = ServerProcess::start(&name, &args.driver, &url, None, args.pin_server.as_ref().map(|cpus| cpus.0.as_slice())).await?;
                let (address, identity) = (server.address, server.identity.clone());
                Ok::<_, anyhow::Error>((Some(server), address, identity))
            }
            TargetSpec::Url { address, url } => {
                if !args.load.no_reset {
                    eprintln!("resetting the database loadgen manages (DATABASE_URL, or the managed cluster); the server at {url} must use the same one, or pass --no-reset");
                    reset_database(&scenario).await?;
                }
                if !stack::health_db(address).await {
                    bail!("{url} does not answer GET /health/db with 200: is the server running?");
                }
                Ok((None, address, Identity { server: "external".into(), driver: None, version: None, url }))
            }
        }
    })?;
    eprintln!(
        "running {} against {} for {:.1} s ({:.1} s warm-up)...",
        scenario.name,
        identity.url,
        load.total().as_secs_f64(),
        load.warmup.as_secs_f64()
    );
    if let Some(cpus) = &args.pin_loadgen {
        crate::stack::affinity::pin_self(&cpus.0).context("pinning loadgen")?;
    }
    let host = address.to_string();
    let mut record = measure(&scenario, &load, config, address, host, identity);
    if let Some(server) = server {
        record.server_usage = Some(server.usage());
        server.stop()?;
    }
    let passed = check_thresholds(&mut record, &thresholds);
    print!("{}", crate::report::text::run(&record, args.latency));
    let path = args.out.unwrap_or_else(|| {
        results_dir().join(format!(
            "run-{}-{}-{}.json",
            scenario.name,
            record.target.server,
            timestamp()
        ))
    });
    save(&record, &path)?;
    println!("saved {}", path.display());
    Ok(if passed { 0 } else { THRESHOLD_EXIT })
}
