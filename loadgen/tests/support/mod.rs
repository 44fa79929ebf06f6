//! What loadgen's integration tests share: scratch places of their own and
//! reading back what a run saved. Each test binary uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
