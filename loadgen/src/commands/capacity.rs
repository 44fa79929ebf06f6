//! `loadgen capacity --slo "p99 < 20ms"`: the highest rate at which a
//! latency target holds, by the search of `measure::capacity` over open-model
//! steps (`commands::steps`). Exit 0 with the bracket found; otherwise a
//! status that says why there is none.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::commands::load::{self, positive};
use crate::commands::run::check_thresholds;
use crate::commands::steps::{StepArgs, Steps, TargetChoice};
use crate::measure::capacity::{
    self, search, CapacityRecord, CapacityStep, Length, Outcome, Settings, Verdict,
};
use crate::measure::record::{self, Header};
use crate::measure::sweep::SweepStep;
use crate::report::text;
use crate::scenario::threshold::{Statistic, Threshold};

#[derive(Args, Debug)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub target: TargetChoice,
    /// The latency target, over every request of a step from its planned
    /// send time: "p99 < 20ms", "p99.9 <= 50ms", "mean < 5ms".
    #[arg(long, value_parser = parse_slo)]
    pub slo: Threshold,
    /// Most errors a passing step may have, percent of its requests.
    #[arg(long, default_value = "0.1%", value_parser = load::percent)]
    pub max_error_rate: f64,
    /// The first rate tried, req/s [default: half the throughput of a
    /// closed run of the scenario's connections, measured first].
    #[arg(long, value_parser = positive)]
    pub start_rps: Option<f64>,
    /// The highest rate tried, req/s [default: 100 times the start].
    #[arg(long, value_parser = positive)]
    pub max_rps: Option<f64>,
    /// The lowest rate tried before saying the SLO never holds, req/s.
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    pub min_rps: f64,
    /// The search stops when the rate that held and the rate that failed
    /// are within this, percent.
    #[arg(long, default_value = "5%", value_parser = load::percent)]
    pub resolution: f64,
    /// Length of the confirmation step at the rate found, in steps.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub confirm_steps: u32,
    #[command(flatten)]
    pub steps: StepArgs,
    /// Where to save the record [default: <results-dir>/capacity-<scenario>-<target>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn parse_slo(text: &str) -> Result<Threshold, String> {
    let slo: Threshold = text.parse()?;
    match slo.statistic {
        Statistic::Latency(_) if slo.is_upper_bound() => Ok(slo),
        _ => Err(format!(
            "{text}: an SLO is a latency that must stay under a limit, such as \"p99 < 20ms\" \
             (give an error limit with --max-error-rate)"
        )),
    }
}

/// Exit statuses when no bracket was found (0 when one was).
pub const EXIT_GENERATOR: u8 = 97;
pub const EXIT_ABOVE_MAX: u8 = 98;
pub const EXIT_NEVER_HELD: u8 = 99;
pub const EXIT_UNSETTLED: u8 = 96;
pub const EXIT_SERVER_ERRORS: u8 = 94;

/// The exit statuses, for `--help`.
pub const EXIT_HELP: &str = "Exit status: 0 capacity found (a bracket within the resolution, \
confirmed); 99 the SLO failed down to --min-rps; 94 the server's errors broke --max-error-rate \
down to --min-rps; 98 the SLO held up to --max-rps; 97 the generator fell behind (the steps say \
nothing of the server); 96 the longer confirmation step failed three times; 2 a malformed \
command line; 1 any other failure (the message says which).";

pub fn capacity(runtime: &tokio::runtime::Runtime, args: CapacityArgs) -> anyhow::Result<u8> {
    let steps = Steps::start(runtime, &args.target, &args.steps)?;
    let header = Header::now(capacity::SCHEMA, &steps.scenario.name);
    let start_rps = match args.start_rps {
        Some(rate) => rate,
        None => steps
            .half_the_closed_throughput()
            .context("give --start-rps")?,
    };
    let settings = Settings {
        start_rps,
        min_rps: args.min_rps,
        max_rps: args.max_rps.unwrap_or(100.0 * start_rps),
        factor: 2.0,
        resolution: args.resolution / 100.0,
        majority_of: 3,
        reruns: crate::runner::RERUNS as usize,
        confirmations: 3,
    };
    let limit = error_limit(args.max_error_rate);
    let confirm = args.steps.step * args.confirm_steps;
    let found = search(&settings, |rate, length| {
        let step = steps.step(rate, step_length(length, args.steps.step, confirm))?;
        let judged = judge(step, &args.slo, &limit);
        eprintln!("   {:>9.1} req/s: {}", rate, judged.why);
        Ok::<_, anyhow::Error>((judged.clone(), judged.verdict))
    })?
    .blame_errors(args.max_error_rate / 100.0);
    let record = CapacityRecord {
        header,
        target: steps.identity.clone(),
        slo: args.slo.text.clone(),
        max_error_rate: args.max_error_rate / 100.0,
        resolution: settings.resolution,
        step_seconds: args.steps.step.as_secs_f64(),
        confirm_seconds: confirm.as_secs_f64(),
        warmup_seconds: args.steps.warmup.as_secs_f64(),
        drain_seconds: args.steps.drain.as_secs_f64(),
        method: method(&settings),
        outcome: found.outcome,
        capacity: found.capacity,
        probes: found.probes,
    };
    steps.finish()?;
    print!("{}", text::capacity(&record));
    let path = args.out.clone().unwrap_or_else(|| {
        (args.target.places.results_dir).join(format!(
            "capacity-{}-{}-{}.json",
            record.header.scenario,
            record.target.server,
            load::timestamp()
        ))
    });
    record::save(&record, &path)?;
    println!("saved {}", path.display());
    Ok(match record.outcome {
        Outcome::Found => 0,
        Outcome::GeneratorFellBehind => EXIT_GENERATOR,
        Outcome::AboveMax => EXIT_ABOVE_MAX,
        Outcome::NeverHeld => EXIT_NEVER_HELD,
        Outcome::ServerErrors => EXIT_SERVER_ERRORS,
        Outcome::Unsettled => EXIT_UNSETTLED,
    })
}

fn step_length(length: Length, step: Duration, confirm: Duration) -> Duration {
    match length {
        Length::Step => step,
        Length::Long => confirm,
    }
}

/// The error limit of a passing step, from a percentage (0 to 100, as
/// `--max-error-rate` reads it).
pub fn error_limit(percent: f64) -> Threshold {
    format!("error_rate <= {percent}%")
        .parse()
        .expect("a percentage makes a threshold")
}

/// A step passes when its generator and the server kept up, the SLO held
/// and its errors stayed within the limit.
pub fn judge(mut step: SweepStep, slo: &Threshold, limit: &Threshold) -> CapacityStep {
    let held = check_thresholds(&mut step.run, &[slo.clone(), limit.clone()]);
    let observed = |i: usize| step.run.thresholds[i].observed.clone();
    let (verdict, why) = if !step.valid {
        (
            Verdict::Invalid,
            format!("INVALID: {}", step.run.validity.reasons.join("; ")),
        )
    } else if !step.stationary {
        (
            Verdict::Fail,
            format!(
                "fail: unsustainable ({})",
                step.stationarity.reasons.join("; ")
            ),
        )
    } else if !held {
        let failed: Vec<String> = (step.run.thresholds.iter())
            .filter(|t| !t.pass)
            .map(|t| format!("{} (observed {})", t.threshold, t.observed))
            .collect();
        (Verdict::Fail, format!("fail: {}", failed.join(", ")))
    } else {
        let (latency, errors) = (observed(0), observed(1));
        (
            Verdict::Pass,
            format!("pass ({}: {latency}; errors {errors})", slo.text),
        )
    };
    CapacityStep { verdict, why, step }
}

/// The method in words, for the record and the output.
fn method(settings: &Settings) -> String {
    let confirmed = if settings.confirmations > 0 {
        "; the rate found is confirmed by a longer step"
    } else {
        ""
    };
    format!(
        "open-model steps from {:.1} req/s, multiplied or divided by {:.2} until one holds the SLO \
         and one fails (within {:.1}-{:.1} req/s), then bisected in log space to {:.1}%; near the \
         boundary the majority of {} step(s) decides; a step passes when valid, stationary, within \
         the SLO and the error limit; a step whose generator fell behind is run again up to {} \
         times{confirmed}",
        settings.start_rps,
        settings.factor,
        settings.min_rps,
        settings.max_rps,
        100.0 * settings.resolution,
        settings.majority_of,
        settings.reruns
    )
}
