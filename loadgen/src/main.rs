//! `loadgen`: stackbench's load generator and command line.
//!
//! - `loadgen run` sends a scenario's load to one server and prints latency
//!   histograms; `show` and `diff` read saved runs back.
//! - `loadgen db` manages the database every run needs (the managed
//!   throwaway PostgreSQL, or the one `DATABASE_URL` names).
//!
//! loadgen never links a server crate: it starts their binaries and talks HTTP.
//! The work is in the library (`lib.rs`); this is its command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use loadgen::commands;

#[derive(Parser)]
#[command(
    name = "loadgen",
    version,
    about = "stackbench: load generation against the stackbench servers, and the database they use",
    long_about = "stackbench's load generator. `run` sends a scenario's load (closed model: connections; \
                  open model: a request rate, latency corrected for coordinated omission) to one server \
                  and prints latency histograms; `compare` does it for several servers side by side. \
                  Results are saved as JSON under ./results (--results-dir)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario against one server and print latency histograms.
    Run(Box<commands::run::RunArgs>),
    /// Compare servers x drivers on one scenario, fairly: interleaved rounds
    /// of a throughput phase and an equal-rate latency phase, or with
    /// --capacity SLO of each stack's capacity at it, the database checked
    /// after every run; prints a table, saves JSON and an HTML report.
    Compare(Box<commands::compare::CompareArgs>),
    /// Regression gate: run a base and a head build of a server side by side
    /// in alternated short windows and decide, per figure, pass, regression
    /// (exit 99) or inconclusive; or compare the head with a saved run
    /// (--baseline). `scripts/perf-gate.sh` builds both and runs it.
    Gate(Box<commands::gate::GateArgs>),
    /// Latency against offered load: open-model steps at a list of rates
    /// (or fractions of a maximum), each on fresh data after a drain; per
    /// step its percentiles, whether the generator kept up and whether the
    /// server did (stationary); prints a table, saves JSON and an HTML chart.
    Sweep(Box<commands::sweep::SweepArgs>),
    /// The highest rate at which a latency SLO holds ("p99 < 20ms"): open-model
    /// steps doubled until one fails, then bisected to a resolution, near
    /// the boundary by majority, confirmed by a longer step; exit 0 with the
    /// bracket, else a status that says why there is none.
    #[command(after_help = commands::capacity::EXIT_HELP)]
    Capacity(Box<commands::capacity::CapacityArgs>),
    /// Merge the records of the shards of one split run (`run --shard I/N`),
    /// from files or from logs (`-`: standard input), into the record of the
    /// whole run, and judge its thresholds: exit 0, 97 (a shard's generator
    /// fell behind) or 99 (a threshold failed).
    Merge(commands::merge::MergeArgs),
    /// Kubernetes: `k8s render` prints the manifests of a run split across
    /// generator pods (an Indexed Job), for `kubectl apply -f -`.
    K8s {
        #[command(subcommand)]
        action: commands::k8s::Action,
    },
    /// Start one stack in the foreground against the managed database, to
    /// try it by hand (e.g. `loadgen serve go-nethttp --reset`, then curl).
    Serve(Box<commands::serve::ServeArgs>),
    /// List the stacks (language, port, drivers, whether built), or build
    /// the ones cargo does not (`loadgen stacks build`).
    Stacks(commands::stacks::StacksArgs),
    /// Rebuild the HTML report of a saved comparison (written beside it).
    Report {
        /// A comparison saved by `loadgen compare`.
        file: PathBuf,
    },
    /// Print a saved run again.
    Show {
        /// A run record written by `loadgen run`.
        file: PathBuf,
        /// Also print the full percentile distribution.
        #[arg(long)]
        latency: bool,
    },
    /// Print two saved runs side by side with the change of each figure.
    Diff { a: PathBuf, b: PathBuf },
    /// Start, stop, inspect, create or reset the database (the managed
    /// cluster, or DATABASE_URL's when set).
    Db {
        #[command(flatten)]
        data: commands::places::DataDir,
        #[command(subcommand)]
        action: commands::db::Action,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = loadgen::engine::priority::chosen() {
        eprintln!("loadgen: {message}");
        return ExitCode::from(2);
    }
    // Every open-model connection is opened before the clock starts: the
    // open-file limit goes from its usual soft 1024 to what the system allows.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!(
            "loadgen: cannot raise the open-file limit ({error}): a run of many connections may \
             fail to open them all"
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let result = match cli.command {
        Command::Run(args) => commands::run::run(&runtime, *args).map(ExitCode::from),
        Command::Compare(args) => commands::compare::compare(&runtime, *args).map(ExitCode::from),
        Command::Gate(args) => commands::gate::gate(&runtime, *args).map(ExitCode::from),
        Command::Sweep(args) => commands::sweep::sweep(&runtime, *args).map(ExitCode::from),
        Command::Capacity(args) => {
            commands::capacity::capacity(&runtime, *args).map(ExitCode::from)
        }
        Command::Merge(args) => commands::merge::merge(args).map(ExitCode::from),
        Command::K8s { action } => commands::k8s::run(action).map(ExitCode::from),
        Command::Serve(args) => runtime.block_on(commands::serve::run(*args)),
        Command::Stacks(args) => commands::stacks::run(args),
        Command::Report { file } => commands::saved::rebuild_report(&file),
        Command::Show { file, latency } => commands::saved::show(&file, latency),
        Command::Diff { a, b } => commands::saved::diff(&a, &b),
        Command::Db { data, action } => runtime.block_on(commands::db::run(action, &data)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}
