//! `loadgen`: stackbench's command line.
//!
//! `loadgen db` manages the database every run needs (the managed throwaway
//! PostgreSQL, or the one `DATABASE_URL` names) through the `schema` crate.

mod db;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "loadgen",
    version,
    about = "stackbench: load generation and the database it runs against"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start, stop, inspect or reset the database (the managed cluster under
    /// target/, or DATABASE_URL when set).
    Db {
        #[command(subcommand)]
        action: db::Action,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Db { action } => db::run(action).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}
