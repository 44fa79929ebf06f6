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
use crate::scenario::{self, Load, Model, Scenario};

/// A scenario's pgbench scripts, written out and ready to run.
pub struct Scripts {
    pgbench: PathBuf,
    dir: tempfile::TempDir,
    /// Per flow, in scenario order (pgbench's script number).
    scripts: Vec<Script>,
}

/// One flow's script.
struct Script {
    path: PathBuf,
    weight: u32,
    /// How many pgbench commands each of the flow's requests runs, in order.
    commands: Vec<usize>,
}

impl Script {
    fn requests(&self) -> u64 {
        self.commands.len() as u64
    }
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
            scripts.push(Script {
                path,
                weight: flow.weight,
                commands: (scenario::ceiling_parts(script).iter())
                    .map(|(_, part)| commands_in(part))
                    .collect(),
            });
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
        // Each command's average time (--report-per-command) shares a
        // flow's time among its requests.
        command.args([
            "--no-vacuum",
            "--protocol=prepared",
            "--log",
            "--report-per-command",
        ]);
        command.arg(format!("--log-prefix={}", log_prefix.display()));
        command.args([
            format!("--client={connections}"),
            format!("--jobs={threads}"),
        ]);
        let rate = match load.model {
            Model::Open { rate, .. } => {
                let (weights, requests) = self.scripts.iter().fold((0, 0), |(w, r), s| {
                    (
                        w + u64::from(s.weight),
                        r + u64::from(s.weight) * s.requests(),
                    )
                });
                let flows_per_second = rate * weights as f64 / requests as f64;
                // Every planned transaction is run and logged: a number of
                // them rather than a time, so that one a busy database
                // started late is counted with its lateness, and one later
                // than the timeout is logged as skipped and counted as
                // failed, as loadgen counts a request that timed out.
                let per_client = (flows_per_second * total as f64 / f64::from(connections)).ceil();
                command.args([
                    format!("--rate={flows_per_second:.3}"),
                    format!("--transactions={per_client}"),
                    format!("--latency-limit={}", load.timeout.as_millis()),
                ]);
                Some(rate)
            }
            Model::Closed { .. } => {
                command.arg(format!("--time={total}"));
                None
            }
        };
        for script in &self.scripts {
            command.arg(format!(
                "--file={}@{}",
                script.path.display(),
                script.weight
            ));
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
        let shares = self.shares(&String::from_utf8_lossy(&output.stdout))?;
        let window = (load.warmup, load.duration);
        let tally = self.read_logs(&log_prefix, window, &shares)?;
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

    /// Per flow, each request's share of the flow's time in the database:
    /// its commands' share of the flow's commands' average times, from
    /// pgbench's per-command report.
    fn shares(&self, report: &str) -> anyhow::Result<Vec<Vec<f64>>> {
        let latencies = command_latencies(report);
        if latencies.len() != self.scripts.len() {
            bail!(
                "pgbench reported per-command times for {} scripts, not {}:\n{report}",
                latencies.len(),
                self.scripts.len()
            );
        }
        let mut shares = Vec::new();
        for (number, (script, times)) in self.scripts.iter().zip(&latencies).enumerate() {
            if script.commands.iter().sum::<usize>() != times.len() {
                bail!(
                    "flow {number}'s ceiling script has {:?} commands per request by stackbench's count, \
                     but pgbench timed {}: write each SQL command to end with `;` or `\\gset` at the end \
                     of a line",
                    script.commands,
                    times.len()
                );
            }
            let mut rest = times.as_slice();
            let per_request: Vec<f64> = (script.commands.iter())
                .map(|&n| {
                    let (mine, after) = rest.split_at(n);
                    rest = after;
                    mine.iter().sum()
                })
                .collect();
            let total: f64 = per_request.iter().sum();
            shares.push(if total > 0.0 {
                per_request.iter().map(|t| t / total).collect()
            } else {
                vec![1.0 / per_request.len() as f64; per_request.len()]
            });
        }
        Ok(shares)
    }

    /// Counts the transactions planned (or, flat out, started) inside the
    /// measured window, which opens a warm-up after the first one started,
    /// from every thread's log. Each transaction's time is its requests':
    /// the wait for its planned start is the first request's, and the time
    /// in the database is shared by `shares`.
    fn read_logs(
        &self,
        prefix: &Path,
        (warmup, duration): (Duration, Duration),
        shares: &[Vec<f64>],
    ) -> anyhow::Result<WindowCounts> {
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
        let mut tally = WindowCounts {
            transactions: 0,
            requests: 0,
            failed: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        };
        for entry in entries
            .iter()
            .filter(|e| (from..to).contains(&e.started_us()))
        {
            let Some(latency) = entry.latency_us else {
                tally.failed += 1;
                continue;
            };
            let shares = shares.get(entry.script).map_or(&[1.0][..], Vec::as_slice);
            tally.transactions += 1;
            tally.requests += shares.len() as u64;
            for time in per_request(latency, entry.lag_us, shares) {
                tally.latency.saturating_record(time);
            }
        }
        Ok(tally)
    }
}

/// What pgbench's logs say of the measured window.
struct WindowCounts {
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
    /// With `--rate`, how long after its planned start it began.
    lag_us: u64,
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
            lag_us: fields.get(6).and_then(|lag| lag.parse().ok()).unwrap_or(0),
        })
    }

    /// When the transaction was planned (with `--rate`, whose latency
    /// counts from then) or began.
    fn started_us(&self) -> i64 {
        self.ended_us - self.latency_us.unwrap_or(0) as i64
    }
}

/// A transaction's time as its requests' (µs): the wait for its planned
/// start (`lag`) is the first request's, as a stack's first request of the
/// flow would have waited, and the rest is shared by `shares`.
fn per_request(latency: u64, lag: u64, shares: &[f64]) -> impl Iterator<Item = u64> + '_ {
    let lag = lag.min(latency);
    shares.iter().enumerate().map(move |(request, share)| {
        let waited = if request == 0 { lag } else { 0 };
        (waited + (share * (latency - lag) as f64).round() as u64).max(1)
    })
}

/// How many commands pgbench reads in `sql`, as its per-command report
/// lists them: a meta-command line (`\set`) is one, an SQL command runs to
/// the `;` or `\gset` that ends a line; comments and blank lines are none.
fn commands_in(sql: &str) -> usize {
    let (mut commands, mut in_sql) = (0, false);
    for line in sql.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        if line.starts_with('\\') && !in_sql {
            commands += 1;
            continue;
        }
        in_sql = !(line.ends_with(';') || line.ends_with("\\gset") || line.ends_with("\\aset"));
        if !in_sql {
            commands += 1;
        }
    }
    commands + usize::from(in_sql)
}

/// Each script's commands' average times (ms), in order, from pgbench's
/// `--report-per-command` report: a list under "statement latencies" per
/// script (headed "SQL script N", and the list's title "- statement
/// latencies", when there are several).
fn command_latencies(report: &str) -> Vec<Vec<f64>> {
    let mut scripts: Vec<Vec<f64>> = Vec::new();
    let mut listing = false;
    for line in report.lines() {
        if line.starts_with("SQL script ") {
            scripts.push(Vec::new());
            listing = false;
        } else if (line.trim_start().trim_start_matches("- ")).starts_with("statement latencies") {
            if scripts.is_empty() {
                scripts.push(Vec::new());
            }
            listing = true;
        } else if listing {
            match line.split_whitespace().next().map(str::parse::<f64>) {
                Some(Ok(ms)) => scripts.last_mut().expect("a script").push(ms),
                _ => listing = false,
            }
        }
    }
    scripts
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_counted_as_pgbench_reads_them() {
        let sql = "\\set user random(1, 10)\n\
                   BEGIN;\n\
                   -- a comment is no command\n\
                   SELECT a\n  FROM t\n  WHERE id = :user \\gset\n\
                   WITH x AS (\n  SELECT 1\n)\nSELECT * FROM x;\n\
                   COMMIT;\n";
        assert_eq!(commands_in(sql), 5);
        assert_eq!(commands_in("-- request: GET /x\n\nSELECT 1;\n"), 1);
    }

    #[test]
    fn a_flows_time_is_shared_among_its_requests() {
        let times: Vec<u64> = per_request(3_000, 1_000, &[0.75, 0.25]).collect();
        assert_eq!(times, [2_500, 500]);
        // One request: all of it; and no time is ever 0 (the histogram's floor).
        assert_eq!(per_request(800, 0, &[1.0]).collect::<Vec<_>>(), [800]);
        assert_eq!(
            per_request(10, 10, &[0.5, 0.5]).collect::<Vec<_>>(),
            [10, 1]
        );
    }

    /// pgbench 15's report, of one script and of several.
    #[test]
    fn per_command_times_are_read_per_script() {
        let one = "tps = 59161.400334 (without initial connection time)\n\
                   statement latencies in milliseconds and failures:\n\
                   \x20        0.000           0  \\set id random(1, 100000)\n\
                   \x20        0.316           0  SELECT id FROM users WHERE id = :id;\n";
        assert_eq!(command_latencies(one), [vec![0.0, 0.316]]);
        let two = "SQL script 1: flow-0.sql\n - weight: 4 (targets 80.0% of total)\n\
                   \x20- statement latencies in milliseconds and failures:\n\
                   \x20        0.001           0  BEGIN;\n\
                   \x20        1.500           0  COMMIT;\n\
                   SQL script 2: flow-1.sql\n - weight: 1 (targets 20.0% of total)\n\
                   \x20- statement latencies in milliseconds and failures:\n\
                   \x20        0.200           0  SELECT 1;\n";
        assert_eq!(command_latencies(two), [vec![0.001, 1.5], vec![0.2]]);
    }
}
