//! `loadgen gate`: did the head build of a server get slower than the base
//! build? Both run side by side on one machine in short windows, alternated
//! A B B A so drift hits both alike, first at full load (throughput), then
//! at one equal rate (p50 and p99 latency, server CPU per request). Each figure
//! is decided on the pairs' ratios (`measure::paired`) against its
//! tolerance: pass, regression (exit 99) or inconclusive (exit 0 with a
//! warning, 98 with `--strict`). With `--baseline` the head is compared
//! with a saved run instead (unpaired), for people with one build.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use crate::commands::load::{self, positive, ToleranceArgs};
use crate::commands::places::Places;
use crate::measure::figure::{Figure, Phase};
use crate::measure::gate::{
    self, judge, judge_errors, overall, ChangeVerdict, ErrorCounts, ErrorVerdict, GateRecord, Mode,
    Side, Verdict, Window, GATED,
};
use crate::measure::paired::{min_pairs, paired_change, unpaired_change};
use crate::measure::record::{self, GeneratorTolerance, Header, Machine, RunRecord};
use crate::measure::statistics::median;
use crate::runner;
use crate::scenario::{self, Arrivals, Load, Model, Scenario};
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
    /// Window pairs per phase (throughput, then latency); fewer than the
    /// exact test needs at --confidence (8 at 0.95) are refused.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub pairs: u32,
    /// Measured time of each window.
    #[arg(long, default_value = "3s", value_parser = scenario::parse_duration)]
    pub window: Duration,
    /// Unmeasured start of each window.
    #[arg(long, default_value = "500ms", value_parser = scenario::parse_duration)]
    pub warmup: Duration,
    /// The latency windows' rate [default: 30% of the base's median throughput].
    #[arg(long, value_parser = positive)]
    pub rate: Option<f64>,
    /// Largest throughput loss that passes, in percent.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub throughput_tolerance: f64,
    /// Largest p50 growth that passes, in percent.
    #[arg(long, default_value_t = 20.0, value_parser = positive)]
    pub p50_tolerance: f64,
    /// Largest p99 growth that passes, in percent.
    #[arg(long, default_value_t = 20.0, value_parser = positive)]
    pub p99_tolerance: f64,
    /// Largest growth of server CPU per request that passes, in percent.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub cpu_tolerance: f64,
    /// Largest growth of the error rate that passes, in percentage points
    /// (0.1: from 0.2% to 0.3% of requests).
    #[arg(long, default_value_t = 0.1, value_parser = positive)]
    pub error_tolerance: f64,
    /// Confidence of the verdicts together (split over the figures and the
    /// errors' test).
    #[arg(long, default_value_t = 0.95, value_parser = confidence)]
    pub confidence: f64,
    /// Exit 98 on an inconclusive verdict instead of 0.
    #[arg(long)]
    pub strict: bool,
    /// Where to save the gate's record [default: <results-dir>/gate-<scenario>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    #[command(flatten)]
    pub places: Places,
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

/// Each gated figure's share of the error rate, and the errors' test's.
fn alpha(confidence: f64) -> f64 {
    (1.0 - confidence) / (GATED.len() + 1) as f64
}

pub fn gate(runtime: &tokio::runtime::Runtime, args: GateArgs) -> anyhow::Result<u8> {
    let needed = min_pairs(1.0 - alpha(args.confidence));
    if (args.pairs as usize) < needed {
        bail!(
            "--pairs {}: the exact test can never show a change with fewer than {needed} pairs at \
             confidence {} (its most extreme outcome, every pair moving one way, has probability \
             2^-pairs): give --pairs {needed} or more",
            args.pairs,
            args.confidence
        );
    }
    let scenario = scenario::find(&args.scenario)?;
    let header = Header::now(gate::SCHEMA, &scenario.name);
    let saved = args.baseline.as_deref().map(read).transpose()?;
    if let Some(saved) = &saved {
        check_comparable(saved, &scenario, &args)?;
    }
    let head = binary(Side::Head, &args.head)?;
    let base = (args.base.as_deref())
        .map(|path| binary(Side::Base, path))
        .transpose()?;
    let database_url = runtime.block_on(args.places.data.database_url())?;
    let mut servers = Vec::new();
    for (side, binary) in (base.iter().map(|b| (Side::Base, b))).chain([(Side::Head, &head)]) {
        let server = ServerProcess::start(binary, &args.driver, &database_url, None, None);
        servers.push((side, runtime.block_on(server)?));
    }
    let closed = load::closed_load(&scenario, args.window, args.warmup);
    eprintln!(
        "gate: {} windows of {:.1} s (+{:.1} s warm-up), {} pairs per phase, scenario {}",
        2 * args.pairs as usize * servers.len(),
        args.window.as_secs_f64(),
        args.warmup.as_secs_f64(),
        args.pairs,
        scenario.name
    );
    let windows = Windows {
        runtime,
        tolerance: args.tolerance.tolerance(),
        pairs: args.pairs,
        scenario: &scenario,
        database_url: &database_url,
        servers: &servers,
    };
    let mut measured = windows.measure(Phase::Throughput, &closed)?;
    let latency_rate = latency_rate(&args, saved.as_ref(), &measured, base.is_some());
    eprintln!("gate: latency windows at {latency_rate:.1} req/s");
    let open = Load {
        // Evenly spaced: both sides see the same load, with the least noise.
        model: Model::Open {
            rate: latency_rate,
            max_inflight: 256,
            arrivals: Arrivals::Uniform,
        },
        ..closed.clone()
    };
    measured.extend(windows.measure(Phase::Latency, &open)?);
    for (_, server) in servers {
        server.stop()?;
    }
    let mode = match (&saved, args.record) {
        (Some(_), _) => Mode::Baseline,
        (None, true) => Mode::Record,
        (None, false) => Mode::Paired,
    };
    let (changes, errors) = judge_windows(&args, mode, saved.as_ref(), &measured);
    let gate_record = GateRecord {
        header,
        mode,
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
        windows: measured,
        verdict: errors.as_ref().map(|errors| overall(&changes, errors)),
        changes,
        errors,
    };
    if let Some(saved) = &saved {
        warn_if_another_machine(&saved.header.machine, &gate_record.header.machine);
    }
    print!("{}", crate::report::text::gate(&gate_record));
    let path = args.out.clone().unwrap_or_else(|| {
        (args.places.results_dir).join(format!("gate-{}-{}.json", scenario.name, load::timestamp()))
    });
    record::save(&gate_record, &path)?;
    println!("saved {}", path.display());
    Ok(match gate_record.verdict {
        Some(Verdict::Regression) => EXIT_REGRESSION,
        Some(Verdict::Inconclusive) if args.strict => EXIT_INCONCLUSIVE_STRICT,
        _ => 0,
    })
}

fn binary(side: Side, path: &std::path::Path) -> anyhow::Result<ServerBinary> {
    if !path.is_file() {
        bail!(
            "--{} {}: not a file; give the path of a server binary",
            side.name(),
            path.display()
        );
    }
    crate::server::parse_stack(&format!("{}={}", side.name(), path.display()))
}

/// The share of the base's throughput the latency windows run at. Low, so
/// that p50 is the service time: nearer the base's throughput, the windows
/// of both builds queue at times on a machine shared with PostgreSQL and
/// loadgen, and the queue hides a small slowdown (docs/gates.md).
const LATENCY_SHARE: f64 = 0.3;

/// The latency windows' rate: as given, else the baseline's, else
/// [`LATENCY_SHARE`] of the base's (or, recording, the head's) median
/// throughput.
fn latency_rate(
    args: &GateArgs,
    saved: Option<&GateRecord>,
    windows: &[Window],
    has_base: bool,
) -> f64 {
    if let Some(rate) = args.rate.or(saved.map(|saved| saved.latency_rate)) {
        return rate;
    }
    let reference = if has_base { Side::Base } else { Side::Head };
    let mut rates: Vec<f64> = (windows.iter())
        .filter(|w| w.side == reference)
        .filter_map(|w| w.figure(Figure::Throughput))
        .collect();
    (LATENCY_SHARE * median(&mut rates)).max(1.0)
}

/// The builds' servers, run window after window on fresh data.
struct Windows<'a> {
    runtime: &'a tokio::runtime::Runtime,
    tolerance: GeneratorTolerance,
    pairs: u32,
    scenario: &'a Scenario,
    database_url: &'a str,
    servers: &'a [(Side, ServerProcess)],
}

impl Windows<'_> {
    /// One window on fresh data, run again (at most [`runner::RERUNS`] times) while
    /// its generator falls behind.
    fn window(
        &self,
        side: Side,
        phase: Phase,
        pair: u32,
        load: &Load,
        server: &ServerProcess,
    ) -> anyhow::Result<Window> {
        let mut attempt = 0;
        loop {
            let reset = load::reset_database(self.database_url, self.scenario);
            self.runtime.block_on(reset)?;
            let record = measure_window(self.scenario, load, server, self.tolerance);
            if record.validity.valid || attempt == runner::RERUNS {
                return Ok(Window::of(side, phase, pair, &record));
            }
            attempt += 1;
            eprintln!(
                "   {} pair {} {}: INVALID ({}); running it again",
                phase.name(),
                pair + 1,
                side.name(),
                record.validity.reasons.join("; ")
            );
        }
    }

    /// Every pair of windows of one phase: A B, then B A, so that each build
    /// goes first in half the pairs.
    fn measure(&self, phase: Phase, load: &Load) -> anyhow::Result<Vec<Window>> {
        let mut windows = Vec::new();
        for pair in 0..self.pairs {
            let mut order: Vec<&(Side, ServerProcess)> = self.servers.iter().collect();
            if pair % 2 == 1 {
                order.reverse();
            }
            for (side, server) in order {
                let window = self.window(*side, phase, pair, load, server)?;
                let shown = |figure: Figure, show: fn(f64) -> String| {
                    window.figure(figure).map_or("-".into(), show)
                };
                eprintln!(
                    "   {:<10} pair {:>2} {:<4} {:>9} ok/s  p50 {:>9}  p99 {:>9}  cpu/req {:>8}  errors {}  \
                     steal {}",
                    phase.name(),
                    pair + 1,
                    side.name(),
                    shown(Figure::Throughput, |rps| format!("{rps:.1}")),
                    shown(Figure::P50, crate::units::format_us),
                    shown(Figure::P99, crate::units::format_us),
                    shown(Figure::CpuPerRequest, |us| format!("{us:.1} us")),
                    window.errors,
                    window.steal_percent.map_or("-".into(), |s| format!("{s:.0}%"))
                );
                windows.push(window);
            }
        }
        Ok(windows)
    }
}

/// Each gated figure's verdict and the errors', from the windows (and a
/// saved baseline's); nothing is judged when recording a baseline.
fn judge_windows(
    args: &GateArgs,
    mode: Mode,
    saved: Option<&GateRecord>,
    windows: &[Window],
) -> (Vec<ChangeVerdict>, Option<ErrorVerdict>) {
    if mode == Mode::Record {
        return (Vec::new(), None);
    }
    let alpha = alpha(args.confidence);
    let base_windows: Vec<Window> = match saved {
        Some(saved) => (saved.windows.iter())
            .filter(|w| w.side == Side::Head && w.valid)
            .map(|w| Window {
                side: Side::Base,
                ..w.clone()
            })
            .collect(),
        None => (windows.iter())
            .filter(|w| w.side == Side::Base && w.valid)
            .cloned()
            .collect(),
    };
    let head_windows: Vec<&Window> = (windows.iter())
        .filter(|w| w.side == Side::Head && w.valid)
        .collect();
    let paired = mode == Mode::Paired;
    let changes = (GATED.into_iter())
        .map(|figure| {
            let tolerance = tolerance(args, figure);
            let (base, head) = figures(figure, &base_windows, &head_windows, paired);
            if base.len() < 2 || head.len() < 2 {
                return gate::unmeasured(figure, tolerance);
            }
            if paired {
                return judge(figure, &paired_change(&base, &head, 1.0 - alpha), tolerance);
            }
            let verdict = judge(
                figure,
                &unpaired_change(&base, &head, 1.0 - alpha),
                tolerance,
            );
            let phase = gate::window_phase(figure);
            let then = median_steal(base_windows.iter().filter(|w| Some(w.phase) == phase));
            let now = median_steal(
                head_windows
                    .iter()
                    .copied()
                    .filter(|w| Some(w.phase) == phase),
            );
            match (then, now) {
                (Some(then), Some(now)) => gate::unless_the_machine_changed(verdict, then, now),
                _ => verdict,
            }
        })
        .collect();
    let error_pairs: Vec<(ErrorCounts, ErrorCounts)> = (head_windows.iter())
        .filter_map(|h| {
            let b = (base_windows.iter()).find(|b| b.phase == h.phase && b.pair == h.pair)?;
            Some((ErrorCounts::of(b), ErrorCounts::of(h)))
        })
        .collect();
    let errors = judge_errors(&error_pairs, alpha, args.error_tolerance / 100.0);
    (changes, Some(errors))
}

/// The median steal of `windows`, where they measured it.
fn median_steal<'a>(windows: impl Iterator<Item = &'a Window>) -> Option<f64> {
    let mut steal: Vec<f64> = windows.filter_map(|w| w.steal_percent).collect();
    (!steal.is_empty()).then(|| median(&mut steal))
}

fn warn_if_another_machine(saved: &Machine, here: &Machine) {
    if saved != here {
        eprintln!(
            "warning: the baseline was measured on another machine ({}, {} cores) than this one \
             ({}, {} cores): its figures may differ for that alone",
            saved.cpu_model, saved.cores, here.cpu_model, here.cores
        );
    }
}

/// A gated figure's tolerance, as a fraction.
fn tolerance(args: &GateArgs, figure: Figure) -> f64 {
    let percent = match figure {
        Figure::Throughput => args.throughput_tolerance,
        Figure::P50 => args.p50_tolerance,
        Figure::P99 => args.p99_tolerance,
        Figure::CpuPerRequest => args.cpu_tolerance,
        other => unreachable!("{} is not gated", other.name()),
    };
    percent / 100.0
}

fn measure_window(
    scenario: &Scenario,
    load: &Load,
    server: &ServerProcess,
    tolerance: GeneratorTolerance,
) -> RunRecord {
    let threads = crate::engine::threads_for(
        load,
        crate::scenario::Shard::WHOLE,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let config = runner::config_of(load, threads, 1, true, tolerance);
    runner::measure(
        scenario,
        load,
        config,
        server.destination(),
        server.identity.clone(),
        Some(server.pid()),
        runner::Progress::Quiet,
    )
}

/// A figure's values in the base's and the head's windows. Paired, only
/// pairs in which both windows measured it count, matched by phase and pair
/// number: a
/// window that answered nothing has no CPU per request, and pairing by
/// position after dropping it would set windows of different times side by
/// side. (Its failures are judged with the errors.)
fn figures(
    figure: Figure,
    base: &[Window],
    head: &[&Window],
    paired: bool,
) -> (Vec<f64>, Vec<f64>) {
    if !paired {
        let base = base.iter().filter_map(|w| w.figure(figure)).collect();
        let head = head.iter().filter_map(|w| w.figure(figure)).collect();
        return (base, head);
    }
    head.iter()
        .filter_map(|h| {
            let b = (base.iter()).find(|b| b.phase == h.phase && b.pair == h.pair)?;
            Some((b.figure(figure)?, h.figure(figure)?))
        })
        .unzip()
}

fn read(path: &std::path::Path) -> anyhow::Result<GateRecord> {
    record::read(path, &[gate::SCHEMA], "a saved `loadgen gate` run")
}

/// A baseline is only comparable when it ran the same scenario in the same windows.
fn check_comparable(
    saved: &GateRecord,
    scenario: &Scenario,
    args: &GateArgs,
) -> anyhow::Result<()> {
    if saved.header.scenario != scenario.name {
        bail!(
            "the baseline ran scenario {:?}, this gate runs {:?}: give --scenario {}",
            saved.header.scenario,
            scenario.name,
            saved.header.scenario
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
    if saved.windows.iter().all(|w| w.side != Side::Head) {
        bail!(
            "the baseline {} holds no windows of a build",
            args.baseline.as_ref().unwrap().display()
        );
    }
    Ok(())
}
