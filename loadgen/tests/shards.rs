//! One run split across generator processes, as an Indexed Job on
//! Kubernetes runs them (each told its index by JOB_COMPLETION_INDEX), sent
//! to a real stack on a real PostgreSQL, then merged from their logs; and
//! what `merge` and the shards refuse.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{explain, loadgen_command, read_json, temp_dir, Served};

mod support;

const SHARDS: usize = 3;
/// Requests per second of the whole run, for 1 s of warm-up and 3 s counted.
const RATE: u64 = 300;

/// A scenario of health checks only.
const HEALTH: &str = r#"
name = "health"
[dataset]
users = 10
products = 10
stock = 10
[[flow]]
name = "health"
[[flow.step]]
method = "GET"
path = "/health"
expect = 200
"#;

fn loadgen(args: &[&str]) -> Command {
    let mut command = loadgen_command();
    command.args(args);
    command
}

/// A shard of a run of `scenario` at `RATE`, from `start_at`: its index
/// from JOB_COMPLETION_INDEX as Kubernetes sets it, or from `--shard` in
/// `extra`.
fn shard(
    stack: &Served,
    scenario: &str,
    index: Option<usize>,
    start_at: &str,
    dir: &Path,
    extra: &[&str],
) -> Command {
    let rate = RATE.to_string();
    let mut command = loadgen(&[
        "run",
        "--scenario",
        scenario,
        "--target",
        &stack.url,
        "--rate",
        &rate,
        "--max-inflight",
        "24",
        "--warmup",
        "1s",
        "--duration",
        "3s",
        "--start-at",
        start_at,
        "--results-dir",
    ]);
    command.arg(dir).args(extra);
    if let Some(index) = index {
        command
            .args(["--shard-count", &SHARDS.to_string()])
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .arg("--out")
            .arg(dir.join(format!("shard-{index}.json")));
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

fn merge(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = loadgen(&["merge"]);
    command.args(args);
    let Some(input) = stdin else {
        return command.output().unwrap();
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
    child.wait_with_output().unwrap()
}

fn requests(record: &Value) -> u64 {
    record["total"]["requests"].as_u64().unwrap()
}

/// Three shards started as separate processes merge, from their logs, into
/// a record of the whole run's planned requests, second by second, with
/// the shards' start skew; a shard of another run (started beside them),
/// or one left out, is refused by name.
#[test]
fn shards_of_one_run_merge_into_the_whole_run_and_nothing_else_does() {
    let stack = Served::start("axum");
    let dir = temp_dir("shards");
    let start_at = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut children: Vec<_> = (0..SHARDS)
        .map(|index| {
            shard(&stack, "smoke", Some(index), &start_at, &dir, &[])
                .spawn()
                .unwrap()
        })
        .collect();
    // Another run's shard, beside them: the same start and load, another
    // scenario (health checks only, so that its sign-ups do not meet theirs).
    let health = dir.join("health.toml");
    std::fs::write(&health, HEALTH).unwrap();
    let foreign = dir.join("foreign.json");
    let health = health.to_str().unwrap();
    let mut other = shard(
        &stack,
        health,
        None,
        &start_at,
        &dir,
        &["--shard", "1/3", "--out"],
    );
    children.push(other.arg(&foreign).spawn().unwrap());
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for output in &outputs {
        assert_eq!(output.status.code(), Some(0), "{}", explain(output));
    }

    // The shards' logs one after the other, as `kubectl logs -l` gives them.
    let log: Vec<u8> = outputs[..SHARDS]
        .iter()
        .flat_map(|o| o.stdout.clone())
        .collect();
    let out = dir.join("merged.json");
    let merged = merge(&["-", "--out", out.to_str().unwrap()], Some(&log));
    let shards: Vec<Value> = (0..SHARDS)
        .map(|index| read_json(&dir.join(format!("shard-{index}.json"))))
        .collect();
    let any_invalid = shards.iter().any(|s| s["validity"]["valid"] == false);
    // A shard whose generator fell behind makes the run invalid (97).
    let expected = if any_invalid { 97 } else { 0 };
    assert_eq!(merged.status.code(), Some(expected), "{}", explain(&merged));
    let record = read_json(&out);
    assert_eq!(record["validity"]["valid"], !any_invalid, "{record:#}");

    // Every planned request of the whole run's 3 counted seconds, and the
    // shards' in sum; the shards' sizes differ by one at most.
    let sizes: Vec<u64> = shards.iter().map(requests).collect();
    assert_eq!(requests(&record), 3 * RATE, "{sizes:?}");
    assert_eq!(sizes.iter().sum::<u64>(), 3 * RATE);
    assert!(
        sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
        "{sizes:?}"
    );
    // The timeline covers the run (1 s of warm-up, 3 s counted), each
    // second the shards' sum.
    let timeline = record["timeline"].as_array().unwrap();
    let numbers: Vec<u64> = timeline
        .iter()
        .map(|s| s["second"].as_u64().unwrap())
        .collect();
    assert!(numbers.starts_with(&[1, 2, 3, 4]), "{numbers:?}");
    for second in timeline {
        let of = |record: &Value| {
            (record["timeline"].as_array().unwrap().iter())
                .find(|s| s["second"] == second["second"])
                .map_or(0, |s| s["completed"].as_u64().unwrap())
        };
        assert_eq!(
            second["completed"].as_u64(),
            Some(shards.iter().map(of).sum::<u64>())
        );
    }
    let skew = record["merged"]["start_skew_us"].as_u64().unwrap();
    assert!(skew < 50_000, "start skew {skew} µs");
    assert_eq!(record["merged"]["shards"].as_array().unwrap().len(), SHARDS);
    // `smoke`'s threshold, judged on the whole run when it is valid; and
    // no sign-up met another shard's user name (the counters are unique
    // across shards).
    if !any_invalid {
        assert_eq!(
            record["thresholds"][0]["threshold"], "error_rate < 1%",
            "{record:#}"
        );
    }
    let errors = &record["total"]["errors"];
    assert!(
        errors.get("status").is_none() && errors.get("check").is_none(),
        "{errors}"
    );

    // Left out, or mixed with another run's: refused, and named.
    let files: Vec<String> = (0..SHARDS)
        .map(|index| {
            dir.join(format!("shard-{index}.json"))
                .display()
                .to_string()
        })
        .collect();
    let without = merge(&[&files[0], &files[2]], None);
    assert_eq!(without.status.code(), Some(1), "{}", explain(&without));
    assert!(
        explain(&without).contains("missing: shard 1/3"),
        "{}",
        explain(&without)
    );
    let foreign = foreign.display().to_string();
    let mixed = merge(&[&files[0], &files[1], &files[2], &foreign], None);
    assert_eq!(mixed.status.code(), Some(1), "{}", explain(&mixed));
    let named = format!("shard 1/3 ({foreign}) is not of the same run as shard 0/3");
    assert!(explain(&mixed).contains(&named), "{}", explain(&mixed));
}

/// A shard ready after the start (and its lag) sends nothing and exits 95;
/// --shard-count without JOB_COMPLETION_INDEX is refused with what to do.
#[test]
fn a_shard_never_starts_late_nor_guesses_its_index() {
    let stack = Served::start("axum");
    let dir = temp_dir("late");
    let past = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    let late = shard(&stack, "smoke", None, &past, &dir, &["--shard", "0/2"])
        .output()
        .unwrap();
    assert_eq!(late.status.code(), Some(95), "{}", explain(&late));
    assert!(
        explain(&late).contains("missed the start"),
        "{}",
        explain(&late)
    );
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "a late shard saved a record"
    );

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339();
    let unindexed = shard(&stack, "smoke", None, &soon, &dir, &["--shard-count", "2"])
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    assert_eq!(unindexed.status.code(), Some(1), "{}", explain(&unindexed));
    assert!(
        explain(&unindexed).contains("JOB_COMPLETION_INDEX"),
        "{}",
        explain(&unindexed)
    );
}
