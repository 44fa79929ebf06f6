//! `loadgen stacks`: the stacks of the `stacks` table, whether each binary
//! is built, and `stacks build` for the ones cargo does not build (Go, Bun).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use comfy_table::{presets, Table};

use crate::server::{binary_dir, stack_names};

#[derive(Args, Debug)]
pub struct StacksArgs {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Directory of the stackbench-<stack> binaries [default: next to loadgen].
    #[arg(long, value_name = "DIR", global = true)]
    pub bin_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Build the stacks cargo does not build (Go with `go build`, Bun with
    /// `bun build --compile`) into the binaries' directory. Without names,
    /// builds every one whose toolchain is installed and says which it
    /// skipped; a stack named here must build.
    Build {
        /// Stacks to build [default: all of them that are not Rust].
        #[arg(value_parser = stack_names())]
        names: Vec<String>,
        /// The stackbench checkout to build from.
        #[arg(long, value_name = "DIR", default_value = ".")]
        source: PathBuf,
    },
}

pub fn run(args: StacksArgs) -> anyhow::Result<std::process::ExitCode> {
    let dir = binary_dir(args.bin_dir.as_deref())?;
    match args.action {
        None => print!("{}", list(&dir)),
        Some(Action::Build { names, source }) => build(&names, &source, &dir)?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn list(dir: &Path) -> String {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "stack",
        "language",
        "framework",
        "port",
        "drivers",
        "binary",
    ]);
    for stack in stacks::STACKS {
        let binary = match stack.binary_in(dir) {
            Some(path) => path.display().to_string(),
            None if stack.build == stacks::Build::Cargo => {
                "not built: cargo build --release --bins".to_string()
            }
            None => format!("not built: loadgen stacks build {}", stack.name),
        };
        table.add_row([
            stack.name.to_string(),
            stack.language.to_string(),
            stack.framework.to_string(),
            stack.port.to_string(),
            stack.drivers.join(", "),
            binary,
        ]);
    }
    format!("{table}\n")
}

fn build(names: &[String], source: &Path, dir: &Path) -> anyhow::Result<()> {
    if !source.join("servers/stacks").is_dir() {
        bail!(
            "{} is not a stackbench checkout: run this in one, or give --source DIR",
            source.display()
        );
    }
    let source = source
        .canonicalize()
        .with_context(|| format!("reading {}", source.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let chosen: Vec<&stacks::Stack> = match names.is_empty() {
        true => stacks::STACKS
            .iter()
            .filter(|stack| stack.build != stacks::Build::Cargo)
            .collect(),
        false => names.iter().filter_map(|name| stacks::find(name)).collect(),
    };
    for stack in chosen {
        let mut command = match stack.build_command(&source, dir) {
            Ok(Some(command)) => command,
            Ok(None) => {
                eprintln!(
                    "{}: a Rust stack; cargo builds it (cargo build --release --bins)",
                    stack.name
                );
                continue;
            }
            // Named stacks must build; the rest may be skipped, said once.
            Err(missing) if names.is_empty() => {
                eprintln!("skipping {missing}");
                continue;
            }
            Err(missing) => bail!(missing),
        };
        eprintln!("building {} into {}", stack.name, dir.display());
        let status = command
            .status()
            .with_context(|| format!("running the build of {}", stack.name))?;
        if !status.success() {
            bail!(
                "building {} failed ({status}): see its output above",
                stack.name
            );
        }
    }
    Ok(())
}
