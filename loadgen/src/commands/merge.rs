//! `loadgen merge`: the records of the shards of one split run, read from
//! files or from logs, made into the record of the whole run, whose
//! thresholds are then judged as `run` judges them.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::commands::load;
use crate::commands::run::conclude;
use crate::measure::frame;
use crate::measure::record::{self, RunRecord};
use crate::runner::merge::{merge as merge_parts, Part};
use crate::scenario::threshold::Threshold;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' records: run records (JSON), or logs with a framed
    /// record line per shard (what each shard prints), or - for standard
    /// input, e.g. `kubectl logs -l job-name=NAME | loadgen merge -`.
    #[arg(required = true, value_name = "SHARD")]
    pub inputs: Vec<String>,
    /// Where to save the merged record
    /// [default: <results-dir>/run-<scenario>-merged-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Directory the merged record is saved in.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,
    /// Also print the full percentile distribution.
    #[arg(long)]
    pub latency: bool,
}

/// Merges, judges the run's thresholds, prints and saves: exit 0, 97 when
/// a shard's generator fell behind (the run is invalid), 99 when a
/// threshold failed.
pub fn merge(args: MergeArgs) -> anyhow::Result<u8> {
    let mut parts = Vec::new();
    for input in &args.inputs {
        parts.extend(read_parts(input)?);
    }
    let thresholds: Vec<Threshold> =
        match parts.first().and_then(|p| p.record.config.shard.as_ref()) {
            Some(plan) => (plan.thresholds.iter())
                .map(|text| text.parse().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?,
            None => Vec::new(),
        };
    let mut record = merge_parts(parts)?;
    let path = args.out.unwrap_or_else(|| {
        let name = format!(
            "run-{}-merged-{}.json",
            record.header.scenario,
            load::timestamp()
        );
        args.results_dir.join(name)
    });
    conclude(&mut record, &thresholds, args.latency, &path)
}

/// The shard records in one input: a JSON record, or every framed line of a log.
fn read_parts(input: &str) -> anyhow::Result<Vec<Part>> {
    let (origin, bytes) = if input == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
        ("standard input".to_string(), bytes)
    } else {
        let bytes = std::fs::read(input).with_context(|| format!("reading {input}"))?;
        (input.to_string(), bytes)
    };
    if bytes.trim_ascii_start().starts_with(b"{") {
        let record: RunRecord =
            record::from_json(&bytes, &[record::SCHEMA], "a loadgen run record")
                .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        return Ok(vec![Part { origin, record }]);
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut parts = Vec::new();
    for (line, record) in frame::unframe(&text) {
        let origin = format!("{origin} line {line}");
        match record {
            Ok(record) => parts.push(Part { origin, record }),
            Err(e) => bail!("{origin}: {e}"),
        }
    }
    if parts.is_empty() {
        bail!(
            "{origin} holds no shard record: neither a run record (JSON) nor a log with {} lines",
            frame::MARK
        );
    }
    Ok(parts)
}
