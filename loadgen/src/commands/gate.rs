//! `loadgen gate`: did the head build of a server get slower than the base
//! build? Both run side by side on one machine in short windows, alternated
//! A B B A so drift hits both alike, first at full load (throughput), then
//! at one equal rate (p99 latency and server CPU per request). Each metric
//! is decided on the pairs' ratios (`measure::paired`) against its
//! tolerance: pass, regression (exit 99) or inconclusive (exit 0 with a
//! warning, 98 with `--strict`). With `--baseline` the head is compared
//! with a saved run instead (unpaired), for people with one build.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::commands::load;
use crate::commands::places::Places;
use crate::measure::gate::{
    self, judge, judge_errors, overall, Build, ErrorCounts, GateRecord, Metric, MetricVerdict,
    Phase, Verdict, Window,
};
use crate::measure::paired::{paired_change, unpaired_change};
use crate::measure::record::{self, RunRecord};
use crate::measure::statistics::median;
use crate::runner;
use crate::scenario::{self, Load, Model, Scenario};
use crate::server::{ServerBinary, ServerProcess};

#[derive(Args, Debug)]
pub struct GateArgs {
    /// The head build: the server binary under test.
    #[arg(long, value_name = "PATH")]
    pub head: PathBuf,
    /// The base build to compare with, run side by side with the head.
    #[arg(long, value_name = "PATH", required_unless_present_any = ["baseline", "record"])]
    pub base: Option<PathBuf>,
    /// Compare the head with a saved gate run (its head's windows) instead of
    /// a base build: unpaired, so coarser; warns when the machine differs.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["base", "record"])]
    pub baseline: Option<PathBuf>,
    /// Only measure the head and save its windows as a baseline (--out) for
    /// later `--baseline` runs.
    #[arg(long, conflicts_with = "base")]
    pub record: bool,
    /// Scenario (a file or a shipped name), run as it is in every window.
    #[arg(long, default_value = "smoke")]
    pub scenario: String,
    /// Database driver both builds run on.
    #[arg(long, default_value = "tokio-postgres", value_parser = crate::server::driver_names())]
    pub driver: String,
    /// Window pairs per phase (throughput, then latency).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(4..=100))]
    pub pairs: u32,
    /// Measured time of each window.
    #[arg(long, default_value = "3s", value_parser = scenario::parse_duration)]
    pub window: Duration,
    /// Unmeasured start of each window.
    #[arg(long, default_value = "500ms", value_parser = scenario::parse_duration)]
    pub warmup: Duration,
    /// The latency windows' rate [default: 60% of the base's median throughput].
    #[arg(long, value_parser = positive)]
    pub rate: Option<f64>,
    /// Largest throughput loss that passes, in percent.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub throughput_tolerance: f64,
    /// Largest p99 growth that passes, in percent.
    #[arg(long, default_value_t = 20.0, value_parser = positive)]
    pub p99_tolerance: f64,
    /// Largest growth of server CPU per request that passes, in percent.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub cpu_tolerance: f64,
    /// Confidence of the verdicts together (split over the metrics).
    #[arg(long, default_value_t = 0.95, value_parser = confidence)]
    pub confidence: f64,
    /// Seed of the bootstrap intervals.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Exit 98 on an inconclusive verdict instead of 0.
    #[arg(long)]
    pub strict: bool,
    /// Where to save the gate's record [default: <results-dir>/gate-<scenario>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub places: Places,
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(value),
        _ => Err(format!("expected a positive number, not {text:?}")),
    }
}

fn confidence(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.5..1.0).contains(&value) => Ok(value),
        _ => Err(format!(
            "expected a confidence from 0.5 to below 1 (e.g. 0.95), not {text:?}"
        )),
    }
}

/// The exit status of a regression: loadgen's threshold convention.
pub const EXIT_REGRESSION: u8 = 99;
pub const EXIT_INCONCLUSIVE_STRICT: u8 = 98;

pub fn gate(runtime: &tokio::runtime::Runtime, args: GateArgs) -> anyhow::Result<u8> {
    let scenario = scenario::find(&args.scenario)?;
    let saved = args.baseline.as_deref().map(read).transpose()?;
    if let Some(saved) = &saved {
        check_comparable(saved, &scenario, &args)?;
    }
    let head = stack("head", &args.head)?;
    let base = args
        .base
        .as_deref()
        .map(|path| stack("base", path))
        .transpose()?;
    let database_url = runtime.block_on(args.places.data.database_url())?;
    let mut servers = Vec::new();
    for spec in base.iter().chain([&head]) {
        let build = if spec.label == "base" {
            Build::Base
        } else {
            Build::Head
        };
        let server = runtime.block_on(ServerProcess::start(
            spec,
            &args.driver,
            &database_url,
            None,
            None,
        ))?;
        servers.push((build, server));
    }
    let closed = Load {
        model: Model::Closed {
            connections: match scenario.load.model {
                Model::Closed { connections } => connections,
                Model::Open { max_inflight, .. } => max_inflight.min(64),
            },
        },
        duration: args.window,
        warmup: args.warmup,
        stages: None,
        ..scenario.load.clone()
    };
    let mut windows = Vec::new();
    let window_count = 2 * args.pairs as usize * servers.len();
    eprintln!(
        "gate: {} windows of {:.1} s (+{:.1} s warm-up), {} pairs per phase, scenario {}",
        window_count,
        args.window.as_secs_f64(),
        args.warmup.as_secs_f64(),
        args.pairs,
        scenario.name
    );
    let measure = |phase: Phase, load: &Load, windows: &mut Vec<Window>| -> anyhow::Result<()> {
        for pair in 0..args.pairs {
            // A B, then B A: each build goes first in half the pairs.
            let mut order: Vec<&(Build, ServerProcess)> = servers.iter().collect();
            if pair % 2 == 1 {
                order.reverse();
            }
            for (build, server) in order {
                runtime.block_on(load::reset_database(&database_url, &scenario))?;
                let record = measure_window(&scenario, load, server)?;
                let window = window_of(*build, phase, pair, &record);
                eprintln!(
                    "   {:<10} pair {:>2} {:<4} {:>9.1} ok/s  p99 {:>9}  cpu/req {:>8}  errors {}",
                    format!("{phase:?}").to_lowercase(),
                    pair + 1,
                    format!("{build:?}").to_lowercase(),
                    window.rps,
                    crate::units::format_us(window.p99_us),
                    window
                        .cpu_us_per_request
                        .map_or("-".into(), |us| format!("{us:.1} us")),
                    window.errors
                );
                windows.push(window);
            }
        }
        Ok(())
    };
    measure(Phase::Throughput, &closed, &mut windows)?;
    let latency_rate = match (args.rate, &saved) {
        (Some(rate), _) => rate,
        (None, Some(saved)) => saved.latency_rate,
        (None, None) => {
            let reference = if base.is_some() {
                Build::Base
            } else {
                Build::Head
            };
            let mut rates: Vec<f64> = (windows.iter())
                .filter(|w| w.build == reference)
                .map(|w| w.rps)
                .collect();
            (0.6 * median(&mut rates)).max(1.0)
        }
    };
    eprintln!("gate: latency windows at {latency_rate:.1} req/s");
    let open = Load {
        model: Model::Open {
            rate: latency_rate,
            max_inflight: 256,
        },
        ..closed.clone()
    };
    measure(Phase::Latency, &open, &mut windows)?;
    for (_, server) in servers {
        server.stop()?;
    }

    let mode = match (&saved, args.record) {
        (Some(_), _) => "baseline",
        (None, true) => "record",
        (None, false) => "paired",
    };
    // The error rate is split over the metrics and the errors' own test.
    let alpha = (1.0 - args.confidence) / (Metric::ALL.len() + 1) as f64;
    let (metrics, errors) = match mode {
        "record" => (Vec::new(), None),
        _ => {
            let base_windows: Vec<Window> = match &saved {
                Some(saved) => (saved.windows.iter())
                    .filter(|w| w.build == Build::Head)
                    .map(|w| Window {
                        build: Build::Base,
                        ..w.clone()
                    })
                    .collect(),
                None => windows
                    .iter()
                    .filter(|w| w.build == Build::Base)
                    .cloned()
                    .collect(),
            };
            let head_windows: Vec<&Window> =
                windows.iter().filter(|w| w.build == Build::Head).collect();
            let metrics = Metric::ALL
                .iter()
                .map(|&metric| {
                    let paired = saved.is_none();
                    let (base, head) = figures(metric, &base_windows, &head_windows, paired);
                    if base.len() < 2 || head.len() < 2 {
                        return gate::unmeasured(metric, tolerance(&args, metric));
                    }
                    let change = if paired {
                        paired_change(&base, &head, 1.0 - alpha, args.seed)
                    } else {
                        unpaired_change(&base, &head, 1.0 - alpha)
                    };
                    judge(metric, &change, tolerance(&args, metric), alpha)
                })
                .collect::<Vec<MetricVerdict>>();
            let errors = judge_errors(
                ErrorCounts::of(&base_windows),
                ErrorCounts::of(head_windows.iter().copied()),
                alpha,
            );
            (metrics, Some(errors))
        }
    };
    let verdict = errors.as_ref().map(|errors| overall(&metrics, errors));
    let gate_record = GateRecord {
        schema: gate::SCHEMA.to_string(),
        scenario: scenario.name.clone(),
        machine: record::machine(),
        git_commit: record::git_commit(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        mode: mode.to_string(),
        base: match (&saved, &base) {
            (Some(_), _) => args.baseline.as_ref().map(|p| p.display().to_string()),
            (None, Some(base)) => Some(base.binary.display().to_string()),
            (None, None) => None,
        },
        head: head.binary.display().to_string(),
        driver: args.driver.clone(),
        window_seconds: args.window.as_secs_f64(),
        warmup_seconds: args.warmup.as_secs_f64(),
        latency_rate,
        confidence: args.confidence,
        windows,
        metrics,
        errors,
        verdict,
    };
    if let Some(saved) = &saved {
        if saved.machine != gate_record.machine {
            eprintln!(
                "warning: the baseline was measured on another machine ({}, {} cores) than this one ({}, {} cores): \
                 its figures may differ for that alone",
                saved.machine.cpu_model, saved.machine.cores, gate_record.machine.cpu_model, gate_record.machine.cores
            );
        }
    }
    print!("{}", crate::report::text::gate(&gate_record));
    let path = args.out.clone().unwrap_or_else(|| {
        args.places
            .results_dir
            .join(format!("gate-{}-{}.json", scenario.name, load::timestamp()))
    });
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&gate_record)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("saved {}", path.display());
    Ok(match verdict {
        Some(Verdict::Regression) => EXIT_REGRESSION,
        Some(Verdict::Inconclusive) if args.strict => EXIT_INCONCLUSIVE_STRICT,
        _ => 0,
    })
}

fn stack(label: &str, path: &std::path::Path) -> anyhow::Result<ServerBinary> {
    if !path.is_file() {
        bail!(
            "--{label} {}: not a file; give the path of a server binary",
            path.display()
        );
    }
    crate::server::parse_stack(&format!("{label}={}", path.display()))
}

fn tolerance(args: &GateArgs, metric: Metric) -> f64 {
    let percent = match metric {
        Metric::Throughput => args.throughput_tolerance,
        Metric::P99 => args.p99_tolerance,
        Metric::CpuPerRequest => args.cpu_tolerance,
    };
    percent / 100.0
}

fn measure_window(
    scenario: &Scenario,
    load: &Load,
    server: &ServerProcess,
) -> anyhow::Result<RunRecord> {
    let threads = crate::engine::threads_for(
        load,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let config = runner::config_of(load, threads, 1, true);
    Ok(runner::measure(
        scenario,
        load,
        config,
        server.destination(),
        server.identity.clone(),
        Some(server.pid()),
        runner::Progress::Quiet,
    ))
}

fn window_of(build: Build, phase: Phase, pair: u32, record: &RunRecord) -> Window {
    let successes = record.total.successes;
    Window {
        build,
        phase,
        pair,
        requests: record.total.requests,
        errors: record.total.errors.values().sum(),
        rps: record.total.rps,
        p99_us: record.total.latency.p99_us as f64,
        cpu_us_per_request: record
            .server_usage
            .as_ref()
            .filter(|_| successes > 0)
            .map(|usage| usage.cpu_seconds * 1e6 / successes as f64),
    }
}

/// A metric's figures in the base's and the head's windows. Paired, only
/// pairs in which both windows measured it count, matched by pair number: a
/// window that answered nothing has no CPU per request, and pairing by
/// position after dropping it would set windows of different times side by
/// side. (Its failures are judged with the errors.)
fn figures(
    metric: Metric,
    base: &[Window],
    head: &[&Window],
    paired: bool,
) -> (Vec<f64>, Vec<f64>) {
    if !paired {
        let base = base.iter().filter_map(|w| metric.of(w)).collect();
        let head = head.iter().filter_map(|w| metric.of(w)).collect();
        return (base, head);
    }
    head.iter()
        .filter_map(|h| {
            let b = base
                .iter()
                .find(|b| b.pair == h.pair && metric.of(b).is_some())?;
            Some((metric.of(b)?, metric.of(h)?))
        })
        .unzip()
}

fn read(path: &std::path::Path) -> anyhow::Result<GateRecord> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the baseline {}", path.display()))?;
    let saved: GateRecord = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a saved `loadgen gate` run", path.display()))?;
    if saved.schema != gate::SCHEMA {
        bail!(
            "{} has schema {:?}; this loadgen reads {:?}",
            path.display(),
            saved.schema,
            gate::SCHEMA
        );
    }
    Ok(saved)
}

/// A baseline is only comparable when it ran the same scenario in the same windows.
fn check_comparable(
    saved: &GateRecord,
    scenario: &Scenario,
    args: &GateArgs,
) -> anyhow::Result<()> {
    if saved.scenario != scenario.name {
        bail!(
            "the baseline ran scenario {:?}, this gate runs {:?}: give --scenario {}",
            saved.scenario,
            scenario.name,
            saved.scenario
        );
    }
    if saved.driver != args.driver {
        bail!(
            "the baseline ran on the {} driver: give --driver {}",
            saved.driver,
            saved.driver
        );
    }
    if (saved.window_seconds - args.window.as_secs_f64()).abs() > 1e-9
        || (saved.warmup_seconds - args.warmup.as_secs_f64()).abs() > 1e-9
    {
        bail!(
            "the baseline's windows were {} s (+{} s warm-up): give --window {}s --warmup {}ms",
            saved.window_seconds,
            saved.warmup_seconds,
            saved.window_seconds,
            (saved.warmup_seconds * 1000.0).round()
        );
    }
    if saved.windows.iter().all(|w| w.build != Build::Head) {
        bail!(
            "the baseline {} holds no windows of a build",
            args.baseline.as_ref().unwrap().display()
        );
    }
    Ok(())
}
