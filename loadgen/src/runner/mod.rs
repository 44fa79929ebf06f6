//! One measured run: the engine driven with a live view of each second, the
//! server's CPU read at the edges of the measured window, and the figures
//! assembled into a run record. `run` and `compare` both measure this way.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{mpsc, Arc};

use tokio::time::Instant;

pub mod merge;
pub mod pgbench;

use crate::engine::{self, Destination, RunSpec, Tick};
use crate::measure::record::{
    self, Endpoint, Generator, GeneratorTolerance, Identity, OpenModel, ProcessUsage, RunConfig,
    RunRecord, Second, Tally, Validity,
};
use crate::measure::steps::{encode_histogram, ErrorKind, StepStats, ThreadStats};
use crate::scenario::{Load, Model, Scenario, Shard};
use crate::server;
use crate::units::format_us;

/// What a run's record says about its configuration.
pub fn config_of(
    load: &Load,
    threads: usize,
    seed: u64,
    reset: bool,
    generator_tolerance: GeneratorTolerance,
) -> RunConfig {
    let staged = load.stages.is_some();
    let (model, connections, rate, max_inflight, arrivals, stage_unit) = match load.model {
        Model::Closed { connections } => (
            "closed",
            (!staged).then_some(connections),
            None,
            None,
            None,
            "connections",
        ),
        Model::Open {
            rate,
            max_inflight,
            arrivals,
        } => (
            "open",
            None,
            (!staged).then_some(rate),
            Some(max_inflight),
            Some(arrivals),
            "req/s",
        ),
    };
    RunConfig {
        model: model.to_string(),
        connections,
        rate,
        max_inflight,
        arrivals,
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
        seed,
        reset,
        generator_tolerance,
        shard: None,
    }
}

/// How a run shows itself while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A line per second on stderr (a bar on a terminal).
    Live,
    /// Nothing: the caller prints a line per run (the gate's short windows).
    Quiet,
}

/// Runs the engine, showing its `progress`, and returns the record. With
/// `server_pid`, the server's CPU time is read at the start and the end of
/// the measured window.
pub fn measure(
    scenario: &Scenario,
    load: &Load,
    config: RunConfig,
    destination: Destination,
    target: Identity,
    server_pid: Option<u32>,
    progress: Progress,
) -> RunRecord {
    let (shard, start_at) = match &config.shard {
        Some(plan) => (plan.shard, Some(plan.start_at.into())),
        None => (Shard::WHOLE, None),
    };
    let spec = Arc::new(RunSpec::new(
        scenario.clone(),
        load.clone(),
        config.threads,
        destination,
        config.seed,
        shard,
        start_at,
    ));
    let header = record::Header::now(record::SCHEMA, &scenario.name);
    let usage = read_usage_over_window(server_pid, &spec);
    let (sender, receiver) = mpsc::channel();
    let engine_spec = Arc::clone(&spec);
    let engine = std::thread::spawn(move || engine::run(engine_spec, sender));
    let timeline = follow(receiver, &spec, progress);
    let outcome = engine.join().expect("the engine panicked");
    let usage = usage.join().expect("the usage reader panicked");

    let seconds = load.measured().as_secs_f64();
    let stats = &outcome.stats;
    let labels: Vec<&str> = scenario.steps().map(|step| step.label.as_str()).collect();
    let Summary {
        total,
        endpoints,
        open_model,
        warnings,
    } = summary(&labels, stats, &config, seconds, spec.grace());
    let mut invalid = Vec::new();
    let thread_cpu_percent = thread_cpu_percent(&outcome, &mut invalid);
    if let Some(open) = &open_model {
        let tolerance = config.generator_tolerance;
        invalid.extend(fell_behind(open, stats, tolerance, usage.steal_percent));
    }
    let sent = sent(
        total.requests,
        stats.never_sent.requests(),
        stats.warmup_requests,
    );
    let cpu_us_per_request = 1e6 * outcome.thread_cpu.iter().sum::<f64>() / sent as f64;
    RunRecord {
        header,
        scenario_file: scenario.source.clone(),
        scenario_sha256: scenario.sha256.clone(),
        config,
        target,
        measured_seconds: seconds,
        total,
        endpoints,
        timeline,
        open_model,
        generator: Generator {
            thread_cpu_percent,
            cpu_us_per_request,
            priority: outcome.priority,
            start_lag_us: outcome.start_lag.as_micros() as u64,
            warnings,
        },
        validity: Validity::of(invalid),
        in_flight_at_end: stats.in_flight_at_end,
        grace_seconds: spec.grace().as_secs_f64(),
        reconnects: stats.reconnects,
        warmup_requests: stats.warmup_requests,
        server_usage: usage.server,
        steal_percent: usage.steal_percent,
        thresholds: Vec::new(),
        merged: None,
    }
}

/// Requests the generator sent, warm-up included, of `requests` counted
/// (`unsent` of which never went out): at least one, to divide by.
fn sent(requests: u64, unsent: u64, warmup_requests: u64) -> u64 {
    (requests + warmup_requests).saturating_sub(unsent).max(1)
}

/// What a run's statistics say: each endpoint's tally and the total, how
/// the open model kept its schedule, and what the reader should know.
struct Summary {
    total: Tally,
    endpoints: Vec<Endpoint>,
    open_model: Option<OpenModel>,
    warnings: Vec<String>,
}

/// The summary of `stats`, whose steps are labelled `labels`, over a
/// measured window of `seconds` and a grace period of `grace`.
fn summary(
    labels: &[&str],
    stats: &ThreadStats,
    config: &RunConfig,
    seconds: f64,
    grace: std::time::Duration,
) -> Summary {
    let (total, endpoints) = tallies(labels, stats, seconds);
    let mut warnings = Vec::new();
    let open_model = config.max_inflight.map(|max_inflight| {
        // A shard has its share of the run's connections.
        let shard = config
            .shard
            .as_ref()
            .map_or(Shard::WHOLE, |plan| plan.shard);
        let connections = shard.connections(max_inflight as usize).count() as u32;
        let tolerance = config.generator_tolerance;
        open_model(
            stats,
            &total,
            seconds,
            connections,
            tolerance,
            &mut warnings,
        )
    });
    let unanswered = (total.errors.get(&ErrorKind::Unanswered))
        .copied()
        .unwrap_or(0);
    if unanswered > 0 {
        warnings.push(format!(
            "{unanswered} requests were not answered by the end of the run (and {:.1} s of grace): \
             they count as errors, with their wait so far as latency",
            grace.as_secs_f64()
        ));
    }
    Summary {
        total,
        endpoints,
        open_model,
        warnings,
    }
}

/// What the server and the machine used over the measured window.
struct WindowUsage {
    server: Option<ProcessUsage>,
    steal_percent: Option<f64>,
}

/// Reads, at the start and at the end of the measured window, on a thread
/// of its own: the server's CPU time (with `pid`) and its peak memory at
/// the end, and the machine's CPU time with the share the hypervisor took.
fn read_usage_over_window(
    pid: Option<u32>,
    spec: &RunSpec,
) -> std::thread::JoinHandle<WindowUsage> {
    let (from, to) = (spec.warmup_end(), spec.end());
    std::thread::spawn(move || {
        std::thread::sleep(from.saturating_duration_since(Instant::now()));
        let before = pid.map(|pid| server::process_usage(pid).unwrap_or_default());
        let machine_before = machine_cpu_ticks();
        std::thread::sleep(to.saturating_duration_since(Instant::now()));
        let after = pid.map(|pid| server::process_usage(pid).unwrap_or_default());
        let machine_after = machine_cpu_ticks();
        WindowUsage {
            server: before.zip(after).map(|(before, after)| ProcessUsage {
                cpu_seconds: after.cpu_seconds - before.cpu_seconds,
                peak_rss_bytes: after.peak_rss_bytes,
            }),
            steal_percent: machine_before.zip(machine_after).and_then(
                |((total_0, steal_0), (total_1, steal_1))| {
                    let total = total_1.checked_sub(total_0).filter(|&t| t > 0)?;
                    Some(100.0 * steal_1.saturating_sub(steal_0) as f64 / total as f64)
                },
            ),
        }
    })
}

/// All CPUs' time so far and the part of it the hypervisor gave to others
/// while this machine's CPUs wanted to run ("steal"), in clock ticks, from
/// the first line of `/proc/stat`. On a shared VM a steal of tens of
/// percent makes every thread, loadgen's too, wait for a core at times.
fn machine_cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = (stat.lines().next()?.split_whitespace().skip(1).take(8))
        .map(|ticks| ticks.parse().ok())
        .collect::<Option<_>>()?;
    Some((ticks.iter().sum(), *ticks.get(7)?))
}

/// Steal above this share of the machine's CPU time is named as a likely
/// cause when the generator fell behind.
const STEAL_NOTED_PERCENT: f64 = 5.0;

/// The total and each endpoint's tally (step `i` labelled `labels[i]`);
/// open-model requests that never went out get a row of their own.
fn tallies(labels: &[&str], stats: &ThreadStats, seconds: f64) -> (Tally, Vec<Endpoint>) {
    let mut total = StepStats::default();
    let mut endpoints: Vec<Endpoint> = (labels.iter().zip(&stats.steps))
        .map(|(label, step)| {
            total.merge(step);
            Endpoint {
                name: label.to_string(),
                figures: Tally::of(step, seconds),
            }
        })
        .collect();
    if stats.never_sent.requests() > 0 {
        total.merge(&stats.never_sent);
        endpoints.push(Endpoint {
            name: NEVER_SENT.to_string(),
            figures: Tally::of(&stats.never_sent, seconds),
        });
    }
    (Tally::of(&total, seconds), endpoints)
}

/// How many times `gate` runs a window again while its generator falls
/// behind, before it leaves the window out.
pub const RERUNS: u32 = 2;

/// A generator thread busy this share of the run is saturated: what the run
/// measured may be the generator's speed, not the server's.
pub const SATURATED_PERCENT: f64 = 95.0;

/// Each generator thread's CPU use, percent of a core; a saturated thread
/// makes the run invalid.
fn thread_cpu_percent(outcome: &engine::Outcome, invalid: &mut Vec<String>) -> Vec<f64> {
    let wall = outcome.wall.as_secs_f64().max(1e-9);
    let percent: Vec<f64> = (outcome.thread_cpu.iter())
        .map(|cpu| 100.0 * cpu / wall)
        .collect();
    if let Some(busiest) = percent.iter().cloned().reduce(f64::max) {
        if busiest >= SATURATED_PERCENT {
            invalid.push(format!(
                "the generator is saturated: a loadgen thread used {busiest:.0}% of a core, so the figures \
                 may be loadgen's limit rather than the server's (add --threads, or pin loadgen and the \
                 server to different cores)"
            ));
        }
    }
    percent
}

/// The generator's own lateness beyond the tolerance, as a reason the run
/// is invalid.
fn fell_behind(
    open: &OpenModel,
    stats: &ThreadStats,
    tolerance: GeneratorTolerance,
    steal_percent: Option<f64>,
) -> Option<String> {
    let sent = stats.own_lateness.len();
    let share = open.own_late_sends as f64 / sent.max(1) as f64;
    (share > tolerance.share).then(|| {
        format!(
            "the generator fell behind: {} of {sent} requests ({:.1}%, over the {}% tolerance) went out \
             more than {} after a connection was free for them (the pacer woke late or loadgen's thread \
             was not running; the longest such delay {}): their latency is partly loadgen's",
            open.own_late_sends,
            100.0 * share,
            100.0 * tolerance.share,
            format_us(tolerance.late_by_us as f64),
            format_us(open.own_lateness_max_us as f64)
        ) + &steal_percent
            .filter(|&steal| steal >= STEAL_NOTED_PERCENT)
            .map(|steal| {
                format!(
                    "; meanwhile the hypervisor took {steal:.0}% of this machine's CPU time (steal), \
                     so loadgen's thread, real-time or not, waited for a core: a quieter machine, or \
                     a lower rate, would tell"
                )
            })
            .unwrap_or_default()
    })
}

/// How the open model kept its schedule, with a warning for each way the
/// server kept it from doing so: the rate not met, the in-flight cap near.
fn open_model(
    stats: &ThreadStats,
    total: &Tally,
    seconds: f64,
    max_inflight: u32,
    tolerance: GeneratorTolerance,
    warnings: &mut Vec<String>,
) -> OpenModel {
    let late = &stats.lateness;
    let unsent = stats.never_sent.requests();
    let target = total.requests as f64 / seconds;
    let achieved = (total.requests - unsent) as f64 / seconds;
    let late_sends = late.count_between(tolerance.late_by_us + 1, u64::MAX);
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
    let own = &stats.own_lateness;
    OpenModel {
        target_rate: target,
        achieved_rate: achieved,
        late_sends,
        lateness_p50_us: late.value_at_quantile(0.5),
        lateness_p99_us: late.value_at_quantile(0.99),
        lateness_max_us: late.max(),
        own_late_sends: own.count_between(tolerance.late_by_us + 1, u64::MAX),
        own_lateness_p99_us: own.value_at_quantile(0.99),
        own_lateness_max_us: own.max(),
        unsent,
        lateness_histogram: encode_histogram(late),
        own_lateness_histogram: encode_histogram(own),
    }
}

/// The endpoint row of open-model requests that never went out.
pub const NEVER_SENT: &str = "(planned, never sent)";

/// Merges the threads' ticks into the timeline, and shows each second as it
/// completes: a progress bar on a terminal, plain lines otherwise.
fn follow(ticks: mpsc::Receiver<Tick>, spec: &RunSpec, progress: Progress) -> Vec<Second> {
    let load = &spec.load;
    let total = load.total().as_secs();
    let live = progress == Progress::Live;
    let bar = (live && std::io::stderr().is_terminal()).then(|| {
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
            latency_histogram: encode_histogram(&tick.latency),
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
            None if live && number <= total => eprintln!("[{number:>4}s] {line}"),
            None if live && second.completed > 0 => eprintln!("[grace] {line}"),
            None => {}
        }
        timeline.push(second);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    timeline
}
