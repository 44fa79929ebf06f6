//! `loadgen sweep`: latency against offered load. Open-model steps at a
//! list of rates (`commands::steps`): per step the offered and achieved
//! rates, latency from the plan, errors, server CPU per request, whether
//! the generator kept up and whether the server did: the curve an operator
//! reads "how much load within my latency target" from.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::commands::load::{self, positive};
use crate::commands::steps::{parse_fractions, Fractions, StepArgs, Steps, TargetChoice};
use crate::measure::record::{self, Header};
use crate::measure::sweep::{self, SweepRecord};
use crate::report::{html, text};

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub target: TargetChoice,
    /// The steps' rates in req/s, in the order given: 500,1000,2000.
    #[arg(long, value_delimiter = ',', value_parser = positive, conflicts_with = "fractions",
          required_unless_present = "fractions")]
    pub rates: Vec<f64>,
    /// Steps at fractions of a maximum, FROM:TO:BY (0.1:1.2:0.1): of
    /// --max-rps, else of the throughput a closed run of the scenario's
    /// connections measures first (one step's length).
    #[arg(long, value_parser = parse_fractions)]
    pub fractions: Option<Fractions>,
    /// The maximum --fractions are taken of, req/s.
    #[arg(long, value_parser = positive, requires = "fractions")]
    pub max_rps: Option<f64>,
    #[command(flatten)]
    pub steps: StepArgs,
    /// Where to save the record (JSON; the HTML report goes beside it)
    /// [default: <results-dir>/sweep-<scenario>-<target>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn sweep(runtime: &tokio::runtime::Runtime, args: SweepArgs) -> anyhow::Result<u8> {
    let steps = Steps::start(runtime, &args.target, &args.steps)?;
    let header = Header::now(sweep::SCHEMA, &steps.scenario.name);
    let (rates, rates_from) = rates(&args, &steps)?;
    let how = &args.steps;
    eprintln!(
        "sweep: {} steps of {:.1} s (+{:.1} s warm-up, {:.1} s drain) against {}",
        rates.len(),
        how.step.as_secs_f64(),
        how.warmup.as_secs_f64(),
        how.drain.as_secs_f64(),
        steps.identity.url
    );
    let mut measured = Vec::new();
    for (i, &rate) in rates.iter().enumerate() {
        let step = steps.step(rate, how.step)?;
        eprintln!("{}", text::sweep_step_line(i + 1, rates.len(), &step));
        measured.push(step);
    }
    let sweep = SweepRecord {
        header,
        target: steps.identity.clone(),
        step_seconds: how.step.as_secs_f64(),
        warmup_seconds: how.warmup.as_secs_f64(),
        drain_seconds: how.drain.as_secs_f64(),
        rates_from,
        steps: measured,
    };
    let path = args.out.clone().unwrap_or_else(|| {
        args.target.places.results_dir.join(format!(
            "sweep-{}-{}-{}.json",
            sweep.header.scenario,
            sweep.target.server,
            load::timestamp()
        ))
    });
    steps.finish()?;
    print!("{}", text::sweep(&sweep));
    save(&sweep, &path)?;
    println!("saved {} and its report beside it", path.display());
    Ok(0)
}

/// The steps' rates, and where they came from (for the record).
fn rates(args: &SweepArgs, steps: &Steps) -> anyhow::Result<(Vec<f64>, String)> {
    let Some(fractions) = &args.fractions else {
        return Ok((args.rates.clone(), "--rates".to_string()));
    };
    let (max, from) = match args.max_rps {
        Some(max) => (max, format!("--max-rps {max}")),
        None => {
            let record = steps.closed_throughput()?;
            let max = record.total.rps;
            if max.is_nan() || max <= 0.0 {
                bail!(
                    "the closed run that measures the maximum had no success ({} errors): is the \
                     server answering? Give --max-rps or --rates instead",
                    record.total.error_count()
                );
            }
            eprintln!(
                "sweep: the maximum, a closed run of the scenario's connections: {max:.1} req/s"
            );
            (max, format!("a closed run's throughput, {max:.1} req/s"))
        }
    };
    let rates = fractions.0.iter().map(|f| f * max).collect();
    Ok((rates, format!("fractions of {from}")))
}

/// Saves the record and its HTML report beside it.
pub fn save(sweep: &SweepRecord, path: &std::path::Path) -> anyhow::Result<()> {
    record::save(sweep, path)?;
    let html_path = path.with_extension("html");
    std::fs::write(&html_path, html::sweep(sweep)?)
        .with_context(|| format!("writing {}", html_path.display()))
}
