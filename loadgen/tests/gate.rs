//! `loadgen gate` and `loadgen compare --stack` end to end on a real server
//! binary and the real database: windows alternate A B, B A; a saved run
//! serves as a baseline; a baseline of other windows is refused; and any
//! binary compares under its own label.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use support::{read_json, stack_labels, temp};

mod support;

/// The runs share the benchmark database: one at a time.
static DATABASE: Mutex<()> = Mutex::new(());

/// The axum server built beside this loadgen (`cargo build --bins`).
fn axum() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_loadgen")).with_file_name("stackbench-axum")
}

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .unwrap()
}

fn gate(extra: &[&str], out: &Path) -> Output {
    let axum = axum();
    let mut args = vec!["gate", "--head", axum.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--pairs", "4", "--window", "400ms", "--warmup", "200ms"]);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    loadgen(&args)
}

fn explain(output: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_build_against_itself_alternates_windows_and_is_no_regression() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let out = temp("same.json");
    let axum = axum();
    let output = gate(&["--base", axum.to_str().unwrap()], &out);
    // Four pairs cannot make the signed-rank test significant (its smallest
    // p is 1/8), so the same build can never be called a regression here.
    assert_eq!(output.status.code(), Some(0), "{}", explain(&output));
    let record = read_json(&out);
    assert_eq!(record["schema"], "stackbench.gate/1");
    assert_eq!(record["mode"], "paired");
    let windows = record["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 16, "4 pairs x 2 builds x 2 phases");
    let order: Vec<(&str, &str)> = windows
        .iter()
        .map(|w| (w["phase"].as_str().unwrap(), w["build"].as_str().unwrap()))
        .collect();
    // A B, then B A: each build goes first in half the pairs.
    assert_eq!(
        &order[..4],
        [
            ("throughput", "base"),
            ("throughput", "head"),
            ("throughput", "head"),
            ("throughput", "base")
        ]
    );
    assert!(order[8..].iter().all(|(phase, _)| *phase == "latency"));
    for window in windows {
        assert!(window["rps"].as_f64().unwrap() > 0.0, "{window}");
        assert!(
            window["cpu_us_per_request"].as_f64().unwrap() > 0.0,
            "{window}"
        );
    }
    // The latency windows all ran at 60% of the base's median throughput.
    let rate = record["latency_rate"].as_f64().unwrap();
    let mut base: Vec<f64> = windows[..8]
        .iter()
        .filter(|w| w["build"] == "base")
        .map(|w| w["rps"].as_f64().unwrap())
        .collect();
    base.sort_by(f64::total_cmp);
    assert!(
        (rate - 0.6 * (base[1] + base[2]) / 2.0).abs() < 1e-6,
        "{rate} {base:?}"
    );
    let metrics = record["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 3);
    assert_ne!(record["verdict"], "regression");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "throughput",
        "p99 latency",
        "CPU per request",
        "detectable",
        "errors: base 0, head 0",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    // --strict turns an inconclusive verdict into exit 98.
    if record["verdict"] == "inconclusive" {
        let strict = gate(
            &["--base", axum.to_str().unwrap(), "--strict"],
            &temp("strict.json"),
        );
        let again = read_json(&temp("strict.json"));
        let expected = if again["verdict"] == "inconclusive" {
            98
        } else {
            0
        };
        assert_eq!(strict.status.code(), Some(expected), "{}", explain(&strict));
    }
}

#[test]
fn a_recorded_run_is_a_baseline_for_the_same_windows_only() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let saved = temp("baseline.json");
    let output = gate(&["--record"], &saved);
    assert_eq!(output.status.code(), Some(0), "{}", explain(&output));
    let record = read_json(&saved);
    assert_eq!(record["mode"], "record");
    assert!(record["verdict"].is_null(), "a recording judges nothing");
    assert!(record["windows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["build"] == "head"));

    let out = temp("against-baseline.json");
    let output = gate(&["--baseline", saved.to_str().unwrap()], &out);
    assert_eq!(output.status.code(), Some(0), "{}", explain(&output));
    let compared = read_json(&out);
    assert_eq!(compared["mode"], "baseline");
    assert_eq!(compared["metrics"].as_array().unwrap().len(), 3);
    assert_eq!(
        compared["latency_rate"], record["latency_rate"],
        "the saved run's rate"
    );
    assert!(
        compared["metrics"][0]["p_value"].is_null(),
        "unpaired: the exact interval is the test"
    );

    // Other windows than the baseline's: refused, saying what to give.
    let axum = axum();
    let refused = loadgen(&[
        "gate",
        "--head",
        axum.to_str().unwrap(),
        "--baseline",
        saved.to_str().unwrap(),
        "--pairs",
        "4",
        "--window",
        "1s",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", explain(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--window 0.4s"),
        "{}",
        explain(&refused)
    );
}

#[test]
fn compare_runs_any_binary_under_its_label() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let out = temp("stacks.json");
    let axum = axum();
    let (a, b) = (
        format!("old={}", axum.display()),
        format!("new={}", axum.display()),
    );
    let output = loadgen(&[
        "compare",
        "--scenario",
        "smoke",
        "--stack",
        &a,
        "--stack",
        &b,
        "--rounds",
        "1",
        "--duration",
        "500ms",
        "--warmup",
        "200ms",
        "--no-latency-phase",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", explain(&output));
    let comparison = read_json(&out);
    assert_eq!(
        stack_labels(&comparison),
        ["old+tokio-postgres", "new+tokio-postgres"],
        "only the given stacks"
    );
    for run in comparison["runs"].as_array().unwrap() {
        assert!(
            run["record"]["total"]["successes"].as_u64().unwrap() > 0,
            "{run}"
        );
    }

    let bad = loadgen(&[
        "compare",
        "--scenario",
        "smoke",
        "--stack",
        "no-equals-sign",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", explain(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("LABEL=PATH"),
        "{}",
        explain(&bad)
    );
}
