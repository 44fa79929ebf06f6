//! What loadgen's integration tests share: scratch places of their own and
//! reading back what a run saved. Each test binary uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod probe;

/// This test process's scratch directory, named after its test binary.
fn scratch() -> PathBuf {
    let binary = std::env::current_exe().unwrap();
    let stem = binary.file_stem().unwrap().to_string_lossy();
    let name = stem.split('-').next().unwrap_or("tests");
    std::env::temp_dir().join(format!("loadgen-{name}-{}", std::process::id()))
}

/// A path for a file in this process's scratch directory.
pub fn temp(name: &str) -> PathBuf {
    let dir = scratch();
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A fresh, empty directory in this process's scratch directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = temp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The stacks of a saved comparison, in its table's order.
pub fn stack_labels(comparison: &Value) -> Vec<String> {
    comparison["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|summary| summary["contender"]["label"].as_str().unwrap().to_string())
        .collect()
}

/// The tolerance of the generator's own lateness in these tests: they run
/// loadgen's debug build, which spends several times the release build's
/// CPU on each request, beside the servers and PostgreSQL on the same cores,
/// so its sends can be a few milliseconds late by its own fault, and runs
/// would be invalid (`--generator-late-by`, 1 ms by default) for what the
/// tests here do not check. A generator stopped for 150 ms is still caught.
pub const GENERATOR_LATE_BY: &str = "10ms";

/// The share of sends that may be that late, for the same reason: the
/// tests' runs are short (a few hundred requests at times), and two tests
/// run at once on CI's two cores, so one 10 ms hiccup of the test machine
/// is over 1% of a run.
pub const GENERATOR_LATE_SHARE: &str = "5%";

/// `loadgen`, as the tests run it.
pub fn loadgen_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    command.env("LOADGEN_GENERATOR_LATE_BY", GENERATOR_LATE_BY);
    command.env("LOADGEN_GENERATOR_LATE_SHARE", GENERATOR_LATE_SHARE);
    command
}

/// A finished command's exit status and what it printed, for a failed
/// assertion's message.
pub fn explain(output: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
