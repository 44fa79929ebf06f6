//! `loadgen serve`: one stack in the foreground against the managed
//! database (or DATABASE_URL's), for poking at it with curl.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use schema::Dataset;

use crate::commands::places::DataDir;
use crate::server::{driver_names, stack_names, ServerBinary};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The stack to start (`loadgen stacks` lists them).
    #[arg(value_parser = stack_names())]
    pub name: String,
    /// Port to listen on [default: the stack's own, 3000 to 3005].
    #[arg(long)]
    pub port: Option<u16>,
    /// Database driver [default: the stack's first].
    #[arg(long, value_parser = driver_names())]
    pub driver: Option<String>,
    /// Empty the database and seed it first (1000 users, 100 products with
    /// 1000 in stock each, as `loadgen db reset`).
    #[arg(long)]
    pub reset: bool,
    /// Directory of the stackbench-<stack> binaries [default: next to loadgen].
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataDir,
}

/// Replaces loadgen with the server, so Ctrl-C and SIGTERM reach it
/// directly and it shuts down as it would anywhere else. Returns only on
/// an error.
pub async fn run(args: ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    let spec = ServerBinary::builtin(&args.name, args.bin_dir.as_deref())?;
    let driver = spec.driver(args.driver.as_deref())?;
    let url = args.data.database_url().await?;
    if args.reset {
        let dataset = Dataset::SMALL;
        schema::seed::reset(&schema::connect(&url).await?, dataset).await?;
        eprintln!(
            "database reset: {} users, {} products with {} in stock each",
            dataset.users, dataset.products, dataset.stock
        );
    }
    let port = args.port.or(spec.port).unwrap_or(0);
    eprintln!(
        "serving {} on {driver} at http://127.0.0.1:{port} (Ctrl-C stops it)",
        args.name
    );
    let error = std::process::Command::new(&spec.binary)
        .args(["--port", &port.to_string(), "--driver", driver])
        .env("DATABASE_URL", &url)
        .exec();
    bail!("cannot start {}: {error}", spec.binary.display())
}
