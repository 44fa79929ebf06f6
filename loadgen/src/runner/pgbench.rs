//! The ceiling, PostgreSQL alone: a scenario's flows as pgbench scripts (each flow's
//! `ceiling`, the SQL the servers send for its steps) run straight at
//! PostgreSQL over as many connections as a server's pool holds. What the
//! stacks reach over HTTP is read against this.
//!
//! pgbench rather than a driver of `shop`'s store inside loadgen: loadgen
//! never links a server crate, pgbench is PostgreSQL's own client (C,
//! libpq, prepared statements, one thread per core) so the ceiling is the
//! database's and not a Rust driver's, and its scripts can be read and run
//! by hand.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use crate::measure::comparison::CeilingRecord;
use crate::measure::record::Latency;
use crate::scenario::{Load, Model, Scenario};

/// A scenario's pgbench scripts, written out and ready to run.
pub struct Scripts {
    pgbench: PathBuf,
    dir: tempfile::TempDir,
    /// Per flow, in scenario order (pgbench's script number): the script's
    /// file, the flow's weight and its requests.
    scripts: Vec<(PathBuf, u32, u64)>,
}

impl Scripts {
    /// The scenario's scripts, or `None` when its flows have none (a
    /// scenario that never reaches the database, like `health`).
    pub fn prepare(scenario: &Scenario) -> anyhow::Result<Option<Scripts>> {
        if scenario.flows.iter().any(|flow| flow.ceiling.is_none()) {
            return Ok(None);
        }
        let pgbench = find_pgbench()?;
        let dir = tempfile::Builder::new()
            .prefix("stackbench-ceiling-")
            .tempdir()
            .context("creating a directory for the pgbench scripts")?;
        let mut scripts = Vec::new();
        for (number, flow) in scenario.flows.iter().enumerate() {
            let path = dir.path().join(format!("flow-{number}.sql"));
            let script = flow.ceiling.as_deref().unwrap_or_default();
            std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
            scripts.push((path, flow.weight, flow.steps.len() as u64));
        }
        Ok(Some(Scripts {
            pgbench,
            dir,
            scripts,
        }))
    }

    /// Runs the scripts for `load`'s warm-up and measured time over
    /// `connections`: as fast as they go for a closed load, or at the open
    /// load's rate (requests per second, turned into flows per second),
    /// latency then counted from each flow's planned start as loadgen does.
    pub fn run(&self, url: &str, load: &Load, connections: u32) -> anyhow::Result<CeilingRecord> {
        // A second past the window, so that a flow planned just before its
        // end is counted with its whole time.
        let total = (load.warmup + load.duration).as_secs_f64().ceil() as u64 + 1;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(connections as usize);
        let log_prefix = self.dir.path().join("log");
        let mut command = Command::new(&self.pgbench);
        command.args(["--no-vacuum", "--protocol=prepared", "--log"]);
        command.arg(format!("--log-prefix={}", log_prefix.display()));
        command.args([
            format!("--client={connections}"),
            format!("--jobs={threads}"),
            format!("--time={total}"),
        ]);
        let rate = match load.model {
            Model::Open { rate, .. } => {
                let (weights, requests) = self.scripts.iter().fold((0, 0), |(w, r), s| {
                    (w + u64::from(s.1), r + u64::from(s.1) * s.2)
                });
                let flows_per_second = rate * weights as f64 / requests as f64;
                command.arg(format!("--rate={flows_per_second:.3}"));
                Some(rate)
            }
            Model::Closed { .. } => None,
        };
        for (path, weight, _) in &self.scripts {
            command.arg(format!("--file={}@{weight}", path.display()));
        }
        let shown = shown_command(&command, self.dir.path());
        command.arg(url);
        let output = command
            .output()
            .with_context(|| format!("starting {}", self.pgbench.display()))?;
        if !output.status.success() {
            bail!(
                "pgbench failed ({}): {}\n{}",
                output.status,
                shown,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let window = (load.warmup, load.duration);
        let tally = self.read_logs(&log_prefix, window)?;
        let measured = load.duration.as_secs_f64();
        Ok(CeilingRecord {
            command: shown,
            connections,
            rate,
            measured_seconds: measured,
            transactions: tally.transactions,
            requests: tally.requests,
            failed: tally.failed,
            rps: tally.requests as f64 / measured,
            latency: Latency::of(&tally.latency),
        })
    }

    /// Counts the transactions planned (or, flat out, started) inside the
    /// measured window, which opens a warm-up after the first one started,
    /// from every thread's log.
    fn read_logs(
        &self,
        prefix: &Path,
        (warmup, duration): (Duration, Duration),
    ) -> anyhow::Result<Tally> {
        let name = prefix
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let mut entries = Vec::new();
        for file in std::fs::read_dir(self.dir.path())? {
            let path = file?.path();
            let is_log = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}.")));
            if !is_log {
                continue;
            }
            let reader = BufReader::new(std::fs::File::open(&path)?);
            for line in reader.lines() {
                let line = line?;
                entries
                    .push(LogEntry::parse(&line).with_context(|| {
                        format!("{}: unexpected line {line:?}", path.display())
                    })?);
            }
            std::fs::remove_file(&path)?;
        }
        let Some(start) = entries.iter().map(LogEntry::started_us).min() else {
            bail!("pgbench ran no transaction (its logs are empty)");
        };
        let from = start + warmup.as_micros() as i64;
        let to = from + duration.as_micros() as i64;
        let mut tally = Tally {
            transactions: 0,
            requests: 0,
            failed: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        };
        for entry in entries
            .iter()
            .filter(|e| (from..to).contains(&e.started_us()))
        {
            let requests = self.scripts.get(entry.script).map_or(1, |s| s.2);
            match entry.latency_us {
                Some(latency) => {
                    tally.transactions += 1;
                    tally.requests += requests;
                    let per_request = (latency / requests).max(1);
                    tally.latency.saturating_record_n(per_request, requests);
                }
                None => tally.failed += 1,
            }
        }
        Ok(tally)
    }
}

struct Tally {
    transactions: u64,
    requests: u64,
    failed: u64,
    latency: Histogram<u64>,
}

/// One line of a pgbench transaction log:
/// `client transaction latency_us script end_s end_us [lag_us] ...`, the
/// latency `failed` or `skipped` for a transaction that did not complete.
struct LogEntry {
    latency_us: Option<u64>,
    script: usize,
    ended_us: i64,
}

impl LogEntry {
    fn parse(line: &str) -> Option<LogEntry> {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let seconds: i64 = fields.get(4)?.parse().ok()?;
        let micros: i64 = fields.get(5)?.parse().ok()?;
        Some(LogEntry {
            latency_us: fields.get(2)?.parse().ok(),
            script: fields.get(3)?.parse().ok()?,
            ended_us: seconds * 1_000_000 + micros,
        })
    }

    /// When the transaction was planned (with `--rate`, whose latency
    /// counts from then) or began.
    fn started_us(&self) -> i64 {
        self.ended_us - self.latency_us.unwrap_or(0) as i64
    }
}

/// The command line as recorded: scripts named by their flow number, not
/// by a temporary path, and the database URL (which may hold a password) left out.
fn shown_command(command: &Command, dir: &Path) -> String {
    let dir = format!("{}/", dir.display());
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|arg| arg.to_string_lossy().replace(&dir, ""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// pgbench from the PostgreSQL the managed cluster uses, else from PATH.
fn find_pgbench() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = schema::cluster::find_binaries() {
        let beside = dir.join("pgbench");
        if beside.is_file() {
            return Ok(beside);
        }
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("pgbench"))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    on_path.context(
        "pgbench was not found beside PostgreSQL's binaries or on PATH; it ships with the \
         PostgreSQL server package (`bash scripts/setup.sh` installs it), or skip the \
         ceiling row with --no-ceiling",
    )
}
