//! `loadgen run`: one scenario against one target, printed and saved.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tokio::time::Instant;

use crate::commands::places::Places;
use crate::engine::{self, Destination, RunSpec, Tick};
use crate::measure::record::{
    self, Endpoint, Figures, Generator, Identity, OpenModel, ProcessUsage, RunConfig, RunRecord,
    Second, ThresholdResult,
};
use crate::measure::stats::{new_histogram, ErrorKind, StepStats};
use crate::scenario::threshold::{LatencyStat, Observed, Threshold};
use crate::scenario::{self, Load, Model, Scenario};
use crate::stack::{self, ServerProcess, TargetSpec};
use crate::units::format_us;

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
    /// Measured time after the warm-up, e.g. 30s, 2m.
    #[arg(long, value_parser = scenario::parse_duration)]
    pub duration: Option<Duration>,
    /// Time at the start whose requests are sent but not counted.
    #[arg(long, value_parser = scenario::parse_duration)]
    pub warmup: Option<Duration>,
    /// Per-request timeout.
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
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the request sequence (the same seed sends the same requests).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not reset the database to the scenario's dataset first (a server
    /// that loadgen starts; a URL target's database is reset only with --reset-db).
    #[arg(long)]
    pub no_reset: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// hyper, axum or actix (loadgen resets the database, then starts the
    /// server's binary on port 3000, 3001 or 3002, or a free port if that is
    /// taken), or the http://host:port of a running server (loadgen then
    /// touches no database unless --reset-db).
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
    /// Where to save the run record (JSON)
    /// [default: <results-dir>/run-<scenario>-<target>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The open model's cap on requests in flight when nothing else says it.
const DEFAULT_MAX_INFLIGHT: u32 = 1024;
/// The closed model's connections when `--model closed` overrides an open scenario.
const DEFAULT_CONNECTIONS: u32 = 32;

/// Exit status of a run whose thresholds failed (k6's convention).
pub const THRESHOLD_EXIT: u8 = 99;

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
        let max_inflight = match load.model {
            Model::Open { max_inflight, .. } => max_inflight,
            Model::Closed { .. } => DEFAULT_MAX_INFLIGHT,
        };
        let rate_of = |load: &Load| match load.model {
            Model::Open { rate, .. } => rate,
            Model::Closed { .. } => 0.0,
        };
        match (self.rate, self.connections, self.model.as_deref()) {
            (Some(_), _, Some("closed")) | (_, Some(_), Some("open")) => {
                bail!("--model contradicts the model that --rate (open) or --connections (closed) implies")
            }
            (Some(rate), _, _) => load.model = Model::Open { rate, max_inflight },
            (None, Some(connections), _) => load.model = Model::Closed { connections },
            (None, None, Some("open")) => {
                let rate = rate_of(&load);
                if rate == 0.0 && self.stages.is_none() {
                    bail!("--model open needs a rate: give --rate R or --stages");
                }
                load.model = Model::Open { rate, max_inflight };
            }
            (None, None, Some(_)) => {
                if let Model::Open { .. } = load.model {
                    load.model = Model::Closed {
                        connections: DEFAULT_CONNECTIONS,
                    };
                }
            }
            (None, None, None) => {}
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

    /// Worker threads for `load`: as asked [default: all cores], but no
    /// more than its connections.
    pub fn threads(&self, load: &Load) -> usize {
        let requested = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        engine::threads_for(load, requested)
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

pub fn config_of(load: &Load, args: &LoadArgs, threads: usize) -> RunConfig {
    let staged = load.stages.is_some();
    let (model, connections, rate, max_inflight, stage_unit) = match load.model {
        Model::Closed { connections } => (
            "closed",
            (!staged).then_some(connections),
            None,
            None,
            "connections",
        ),
        Model::Open { rate, max_inflight } => (
            "open",
            None,
            (!staged).then_some(rate),
            Some(max_inflight),
            "req/s",
        ),
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
        stage_unit: staged.then(|| stage_unit.to_string()),
        threads,
        seed: args.seed,
        reset: !args.no_reset,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

/// Runs the engine with a live line per second on stderr, and returns the
/// record. With `server_pid`, the server's CPU time is read at the start
/// and the end of the measured window.
pub fn measure(
    scenario: &Scenario,
    load: &Load,
    config: RunConfig,
    destination: Destination,
    target: Identity,
    server_pid: Option<u32>,
) -> RunRecord {
    let spec = Arc::new(RunSpec::new(
        scenario.clone(),
        load.clone(),
        config.threads,
        destination,
        config.seed,
    ));
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let window = server_pid.map(|pid| {
        let (from, to) = (spec.warmup_end(), spec.end());
        std::thread::spawn(move || {
            std::thread::sleep(from.saturating_duration_since(Instant::now()));
            let before = stack::process_usage(pid).unwrap_or_default();
            std::thread::sleep(to.saturating_duration_since(Instant::now()));
            let after = stack::process_usage(pid).unwrap_or_default();
            ProcessUsage {
                cpu_seconds: after.cpu_seconds - before.cpu_seconds,
                peak_rss_bytes: after.peak_rss_bytes,
            }
        })
    });
    let (sender, receiver) = mpsc::channel();
    let engine_spec = Arc::clone(&spec);
    let engine = std::thread::spawn(move || engine::run(engine_spec, sender));
    let timeline = follow(receiver, &spec);
    let outcome = engine.join().expect("the engine panicked");
    let server_usage = window.map(|thread| thread.join().expect("the usage reader panicked"));

    let seconds = load.measured().as_secs_f64();
    let stats = &outcome.stats;
    let mut total = StepStats::default();
    let mut endpoints: Vec<Endpoint> = scenario
        .steps()
        .map(|step| {
            total.merge(&stats.steps[step.id]);
            Endpoint {
                name: step.label.clone(),
                figures: Figures::of(&stats.steps[step.id], seconds),
            }
        })
        .collect();
    if stats.never_sent.requests() > 0 {
        total.merge(&stats.never_sent);
        endpoints.push(Endpoint {
            name: NEVER_SENT.to_string(),
            figures: Figures::of(&stats.never_sent, seconds),
        });
    }
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
        Model::Open { max_inflight, .. } => {
            let late = &stats.lateness;
            let unsent = stats.never_sent.requests();
            let target = total.requests as f64 / seconds;
            let achieved = (total.requests - unsent) as f64 / seconds;
            let late_sends = late.count_between(1_001, u64::MAX);
            if unsent > 0 || achieved < 0.99 * target {
                warnings.push(format!(
                    "the planned rate was not met ({achieved:.1} of {target:.1} req/s sent, {unsent} never sent, \
                     counted as unanswered): the server could not keep up, or --max-inflight {max_inflight} is too low"
                ));
            }
            // Little's law: requests in flight = rate x time in system.
            let needed = target * total.service_time.mean_us / 1e6;
            if needed > 0.9 * f64::from(max_inflight) {
                warnings.push(format!(
                    "rate x service time = {needed:.0} requests in flight, near or over --max-inflight {max_inflight}: \
                     requests waited in the generator (counted in the latency from the plan)"
                ));
            }
            if !late.is_empty() && late_sends as f64 > 0.01 * late.len() as f64 {
                warnings.push(format!(
                    "{late_sends} requests ({:.1}%) went out more than 1 ms after their planned time",
                    100.0 * late_sends as f64 / late.len() as f64
                ));
            }
            Some(OpenModel {
                target_rate: target,
                achieved_rate: achieved,
                late_sends,
                lateness_p50_us: late.value_at_quantile(0.5),
                lateness_p99_us: late.value_at_quantile(0.99),
                lateness_max_us: late.max(),
                unsent,
            })
        }
        Model::Closed { .. } => None,
    };
    let unanswered = total
        .errors
        .get(&ErrorKind::Unanswered)
        .copied()
        .unwrap_or(0);
    if unanswered > 0 {
        warnings.push(format!(
            "{unanswered} requests were not answered by the end of the run (and {:.1} s of grace): \
             they count as errors, with their wait so far as latency",
            spec.grace().as_secs_f64()
        ));
    }
    let sent = total.requests - stats.never_sent.requests() + stats.warmup_requests;
    let cpu_us_per_request = 1e6 * outcome.thread_cpu.iter().sum::<f64>() / sent.max(1) as f64;
    RunRecord {
        schema: record::SCHEMA.to_string(),
        scenario: scenario.name.clone(),
        scenario_file: scenario.source.clone(),
        config,
        target,
        machine: record::machine(),
        git_commit: record::git_commit(),
        started_at,
        measured_seconds: seconds,
        total,
        endpoints,
        timeline,
        open_model,
        generator: Generator {
            thread_cpu_percent,
            cpu_us_per_request,
            warnings,
        },
        in_flight_at_end: stats.in_flight_at_end,
        grace_seconds: spec.grace().as_secs_f64(),
        reconnects: stats.reconnects,
        warmup_requests: stats.warmup_requests,
        server_usage,
        thresholds: Vec::new(),
    }
}

/// The endpoint row of open-model requests that never went out.
pub const NEVER_SENT: &str = "(planned, never sent)";

/// Merges the threads' ticks into the timeline, and shows each second as it
/// completes: a progress bar on a terminal, plain lines otherwise.
fn follow(ticks: mpsc::Receiver<Tick>, spec: &RunSpec) -> Vec<Second> {
    let load = &spec.load;
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
    let target_rate = match (load.model, &load.stages) {
        (Model::Open { rate, .. }, None) => Some(rate),
        _ => None,
    };
    struct Pending {
        threads: usize,
        tick: Tick,
    }
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut timeline = Vec::new();
    for tick in ticks {
        let number = tick.second;
        let entry = match pending.entry(number) {
            std::collections::btree_map::Entry::Vacant(vacant) => {
                vacant.insert(Pending { threads: 1, tick })
            }
            std::collections::btree_map::Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                entry.threads += 1;
                entry.tick.completed += tick.completed;
                entry.tick.successes += tick.successes;
                entry.tick.errors += tick.errors;
                entry.tick.in_flight += tick.in_flight;
                entry.tick.latency.add(&tick.latency).expect("same bounds");
                entry
            }
        };
        if entry.threads < spec.threads {
            continue;
        }
        let tick = pending.remove(&number).expect("present").tick;
        let second = Second {
            second: number,
            // A second that began in the warm-up.
            warmup: ((number - 1) as f64) < warmup,
            successes: tick.successes,
            completed: tick.completed,
            errors: tick.errors,
            in_flight: tick.in_flight,
            p50_us: tick.latency.value_at_quantile(0.5),
            p99_us: tick.latency.value_at_quantile(0.99),
        };
        let phase = if second.warmup { " (warm-up)" } else { "" };
        let rate = match target_rate {
            Some(target) => format!(" of {target:.0} planned"),
            None => String::new(),
        };
        let p99 = if tick.latency.is_empty() {
            "-".into()
        } else {
            format_us(second.p99_us as f64)
        };
        let line = format!(
            "{} ok/s ({} ended{rate}), p99 {p99}, {} errors, {} in flight{phase}",
            second.successes, second.completed, second.errors, second.in_flight
        );
        match &bar {
            Some(bar) => {
                bar.set_position(number.min(total));
                bar.set_message(line);
            }
            None if number <= total => eprintln!("[{number:>4}s] {line}"),
            None if second.completed > 0 => eprintln!("[grace] {line}"),
            None => {}
        }
        timeline.push(second);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    timeline
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

pub fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

pub fn run(runtime: &tokio::runtime::Runtime, args: RunArgs) -> anyhow::Result<u8> {
    let (scenario, load) = args.load.resolve()?;
    let mut thresholds: Vec<Threshold> = scenario.thresholds.clone();
    for text in &args.thresholds {
        thresholds.push(text.parse().map_err(anyhow::Error::msg)?);
    }
    let threads = args.load.threads(&load);
    let mut config = config_of(&load, &args.load, threads);
    let target = stack::parse_target(&args.target)?;
    // The database behind a URL is the user's business unless they ask.
    config.reset = match target {
        TargetSpec::Server(_) => !args.load.no_reset,
        TargetSpec::Url { .. } => args.reset_db,
    };
    let data = &args.places.data;
    let (server, destination, identity) = runtime.block_on(async {
        match target {
            TargetSpec::Server(name) => {
                let bin_dir = args.places.bin_dir.as_deref();
                stack::server_binary(&name, bin_dir)?; // a missing binary fails before the reset
                let url = data.database_url().await?;
                if config.reset {
                    reset_database(&url, &scenario).await?;
                }
                let server = ServerProcess::start(&name, bin_dir, &args.driver, &url, None, args.pin_server.as_ref().map(|cpus| cpus.0.as_slice())).await?;
                let (destination, identity) = (server.destination(), server.identity.clone());
                Ok::<_, anyhow::Error>((Some(server), destination, identity))
            }
            TargetSpec::Url { addresses, authority, url } => {
                if config.reset {
                    eprintln!("--reset-db: resetting DATABASE_URL's database, or the managed cluster's; the server at {url} must use the same one");
                    reset_database(&data.database_url().await?, &scenario).await?;
                }
                if !stack::health_db(&addresses, &authority).await {
                    bail!("{url} does not answer GET /health/db with 200: is the server running?");
                }
                let destination = Destination { addresses, host: authority };
                Ok((None, destination, Identity { server: "external".into(), driver: None, version: None, url }))
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
    let server_pid = server.as_ref().map(ServerProcess::pid);
    let mut record = measure(&scenario, &load, config, destination, identity, server_pid);
    if let Some(server) = server {
        server.stop()?;
    }
    let passed = check_thresholds(&mut record, &thresholds);
    print!("{}", crate::report::text::run(&record, args.latency));
    let path = args.out.unwrap_or_else(|| {
        args.places.results_dir.join(format!(
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
