//! `loadgen gate` and `loadgen compare --stack` end to end on real server
//! binaries and the real database: windows alternate A B, B A; an unchanged
//! build passes where a regression could have been found; a commit that
//! slows the server is one (exit 99); a saved run serves as a baseline; a
//! baseline of other windows is refused; and any binary compares under its
//! own label.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;

use support::probe::{self, build_base_and_head};
use support::{explain, read_json, stack_labels, temp};

mod support;

/// The runs share the benchmark database, and each measures: one at a time.
static DATABASE: Mutex<()> = Mutex::new(());

/// The axum server built beside this loadgen (`cargo build --bins`).
fn axum() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_loadgen")).with_file_name("stackbench-axum")
}

fn loadgen(args: &[&str]) -> Output {
    support::loadgen_command().args(args).output().unwrap()
}

fn gate(extra: &[&str], out: &Path) -> Output {
    let axum = axum();
    let mut args = vec!["gate", "--head", axum.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--window", "400ms", "--warmup", "200ms"]);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    loadgen(&args)
}

/// Eight pairs: the fewest the gate takes at its default confidence (the
/// exact interval needs 2^-pairs under 0.05 split over four figures and the
/// errors, on each side), so an unchanged build passing is a verdict, not a
/// foregone conclusion.
const PAIRS: &str = "8";

#[test]
fn a_build_against_itself_alternates_windows_and_is_no_regression() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let out = temp("same.json");
    let axum = axum();
    let output = gate(&["--base", axum.to_str().unwrap(), "--pairs", PAIRS], &out);
    assert_eq!(output.status.code(), Some(0), "{}", explain(&output));
    let record = read_json(&out);
    assert_eq!(record["schema"], "stackbench.gate/5");
    assert_eq!(record["mode"], "paired");
    assert_ne!(record["verdict"], "regression");
    let windows = record["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 32, "8 pairs x 2 builds x 2 phases");
    let order: Vec<(&str, &str)> = windows
        .iter()
        .map(|w| (w["phase"].as_str().unwrap(), w["side"].as_str().unwrap()))
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
    assert!(order[16..].iter().all(|(phase, _)| *phase == "latency"));
    // Each window holds the figures of its phase: CPU per request is read
    // where the server is saturated.
    for window in &windows[..16] {
        let figures = &window["figures"];
        assert!(figures["throughput"].as_f64().unwrap() > 0.0, "{window}");
        assert!(
            figures["cpu_per_request"].as_f64().unwrap() > 0.0,
            "{window}"
        );
    }
    for window in &windows[16..] {
        let figures = &window["figures"];
        assert!(figures["p99"].as_f64().unwrap() > 0.0, "{window}");
        assert!(figures["cpu_per_request"].is_null(), "{window}");
    }
    // The latency windows all ran at 30% of the base's median throughput.
    let rate = record["latency_rate"].as_f64().unwrap();
    let mut base: Vec<f64> = windows[..16]
        .iter()
        .filter(|w| w["side"] == "base")
        .map(|w| w["figures"]["throughput"].as_f64().unwrap())
        .collect();
    base.sort_by(f64::total_cmp);
    assert!(
        (rate - 0.3 * (base[3] + base[4]) / 2.0).abs() < 1e-6,
        "{rate} {base:?}"
    );
    let changes = record["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 4);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "throughput",
        "p50",
        "p99",
        "CPU per request",
        "detectable",
        "errors: base 0 (0.000%), head 0 (0.000%)",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
}

/// A server that answers every request `200 {}`, after `WORK` rounds of a
/// loop: the base does none, the head a fraction of a millisecond's worth.
fn probe_server(work: u32) -> String {
    format!(
        r#"use std::io::{{BufRead, BufReader, Read, Write}};
use std::net::{{TcpListener, TcpStream}};

const WORK: u32 = {work};

fn main() {{
    let args: Vec<String> = std::env::args().collect();
    let Some(port) = args.iter().position(|a| a == "--port").map(|i| args[i + 1].clone()) else {{
        println!("probe");
        return;
    }};
    let listener = TcpListener::bind(format!("127.0.0.1:{{port}}")).unwrap();
    for stream in listener.incoming().flatten() {{
        std::thread::spawn(move || serve(stream));
    }}
}}

fn serve(stream: TcpStream) -> Option<()> {{
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut writer = stream;
    loop {{
        let mut length = 0;
        loop {{
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {{
                return None;
            }}
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {{
                break;
            }}
            if let Some(value) = line.strip_prefix("content-length:") {{
                length = value.trim().parse().ok()?;
            }}
        }}
        reader.read_exact(&mut vec![0; length]).ok()?;
        let mut x = 0u32;
        for i in 0..WORK {{
            x = std::hint::black_box(x ^ i);
        }}
        writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}").ok()?;
    }}
}}
"#
    )
}

/// A commit that makes the server do more per request (several times the
/// CPU of answering: the gate's tolerance is 10%, and its interval from
/// eight short windows on a busy machine spans tens of percent), built from
/// its own source as `scripts/perf-gate.sh` builds it (`scripts/gate-lib.sh`),
/// is a regression: exit 99, on CPU per request.
#[test]
fn a_commit_that_makes_the_server_slower_is_a_regression() {
    // The build holds the lock too: a build beside another test's windows
    // would be measured as that test's noise.
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let repo = probe::repository("slower", &probe_server(0), &probe_server(10_000));
    let built = build_base_and_head(&repo, "");
    assert!(built.status.success(), "{}", explain(&built));
    let health = temp("health.toml");
    std::fs::write(
        &health,
        "name = \"health\"\n[dataset]\nusers = 1\nproducts = 1\nstock = 1\n[load]\nmodel = \"closed\"\nconnections = 4\nduration = \"1s\"\n\
         [[flow]]\nname = \"health\"\n[[flow.step]]\nname = \"GET /health\"\nmethod = \"GET\"\npath = \"/health\"\nexpect = 200\n",
    )
    .unwrap();
    let out = temp("slower.json");
    let output = loadgen(&[
        "gate",
        "--base",
        repo.join("base-build").to_str().unwrap(),
        "--head",
        repo.join("head-build").to_str().unwrap(),
        "--scenario",
        health.to_str().unwrap(),
        "--pairs",
        PAIRS,
        "--window",
        "400ms",
        "--warmup",
        "200ms",
        // At 60% of this trivial server's throughput (tens of thousands of
        // requests a second) loadgen's debug build would be the bottleneck,
        // and its windows invalid: a rate it keeps up with.
        "--rate",
        "2000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(99), "{}", explain(&output));
    let record = read_json(&out);
    assert_eq!(record["verdict"], "regression");
    let verdict = |figure: &str| {
        record["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["figure"] == figure)
            .map(|m| m["verdict"].clone())
            .unwrap()
    };
    assert_eq!(verdict("cpu_per_request"), "regression", "{record}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("REGRESSION"));
}

#[test]
fn a_recorded_run_is_a_baseline_for_the_same_windows_only() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let saved = temp("baseline.json");
    let output = gate(&["--record", "--pairs", PAIRS], &saved);
    assert_eq!(output.status.code(), Some(0), "{}", explain(&output));
    let record = read_json(&saved);
    assert_eq!(record["mode"], "record");
    assert!(record["verdict"].is_null(), "a recording judges nothing");
    assert!(record["windows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["side"] == "head"));

    let out = temp("against-baseline.json");
    let output = gate(
        &["--baseline", saved.to_str().unwrap(), "--pairs", PAIRS],
        &out,
    );
    assert_eq!(output.status.code(), Some(0), "{}", explain(&output));
    let compared = read_json(&out);
    assert_eq!(compared["mode"], "baseline");
    assert_eq!(compared["changes"].as_array().unwrap().len(), 4);
    assert_eq!(
        compared["latency_rate"], record["latency_rate"],
        "the saved run's rate"
    );
    assert!(
        compared["changes"][0]["p_value"].is_null(),
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
        PAIRS,
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

/// Fewer pairs than the exact test needs at the asked confidence are
/// refused before anything runs, with the minimum.
#[test]
fn too_few_pairs_are_refused_with_the_minimum() {
    let axum = axum();
    let refused = loadgen(&[
        "gate",
        "--head",
        axum.to_str().unwrap(),
        "--base",
        axum.to_str().unwrap(),
        "--pairs",
        "7",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", explain(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("give --pairs 8 or more"), "{stderr}");
}

#[test]
fn compare_runs_any_binary_under_its_label() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let out = temp("stacks.json");
    let axum = axum();
    // "new" is axum behind a script that first notes the nice value and
    // the scheduling policy it was started with.
    let (wrapper, started_at) = (temp("new-axum.sh"), temp("new-axum.priority"));
    let script = format!(
        "#!/bin/sh\n\
         echo $(nice) $(chrt -p $$ | sed -n 's/.*policy: //p') > '{}'\n\
         exec '{}' \"$@\"\n",
        started_at.display(),
        axum.display()
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (a, b) = (
        format!("old={}", axum.display()),
        format!("new={}", wrapper.display()),
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
    // The generator's threads ran in real time where the OS let them (with
    // CAP_SYS_NICE), while the server kept the priority loadgen was given:
    // it is started by loadgen's main thread, not by the workers.
    let ours = nice_of_this_process();
    let started = std::fs::read_to_string(&started_at).unwrap();
    assert_eq!(
        started.trim(),
        format!("{ours} SCHED_OTHER"),
        "the server started at loadgen's own priority"
    );
    let expected = if may_raise_priority() {
        serde_json::json!("realtime")
    } else {
        serde_json::json!({ "nice": ours })
    };
    for run in comparison["runs"].as_array().unwrap() {
        assert_eq!(run["record"]["generator"]["priority"], expected, "{run}");
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

/// This process's nice value (field 19 of `/proc/self/stat`).
fn nice_of_this_process() -> i32 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[16].parse().unwrap()
}

/// Whether this process, and so loadgen, may raise a priority: it holds
/// CAP_SYS_NICE (bit 23 of the effective capabilities).
fn may_raise_priority() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .unwrap();
    u64::from_str_radix(effective.trim(), 16).unwrap() & (1 << 23) != 0
}
