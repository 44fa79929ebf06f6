//! `loadgen show`, `diff` and `report`: saved runs and comparisons read back.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::commands::compare;
use crate::measure::record::{self, RunRecord};
use crate::report::{html, text};

fn read_record(path: &Path) -> anyhow::Result<RunRecord> {
    record::read(path, &[record::SCHEMA], "a loadgen run record")
}

pub fn show(path: &Path, full_distribution: bool) -> anyhow::Result<ExitCode> {
    print!("{}", text::run(&read_record(path)?, full_distribution));
    Ok(ExitCode::SUCCESS)
}

pub fn diff(a: &Path, b: &Path) -> anyhow::Result<ExitCode> {
    print!("{}", text::diff(&read_record(a)?, &read_record(b)?));
    Ok(ExitCode::SUCCESS)
}

pub fn rebuild_report(path: &Path) -> anyhow::Result<ExitCode> {
    let comparison = compare::read(path)?;
    let html = html::report(&comparison)?;
    let out = path.with_extension("html");
    std::fs::write(&out, html).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
