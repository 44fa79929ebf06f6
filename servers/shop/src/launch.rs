//! What every server's `main` does: read the config, start logging, build
//! the runtime, connect to the database, bind, serve until SIGINT/SIGTERM.
//! A server's `main.rs` is one call to [`run`].

use std::future::Future;
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use crate::AppState;

/// How a server's framework wants its threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// A multi-threaded tokio runtime with one thread per worker (hyper, axum).
    TokioWorkers,
    /// One thread for the main task; the framework starts its own workers (actix-web).
    FrameworkWorkers,
}

/// Resolves on SIGINT or SIGTERM: the servers then stop accepting and finish
/// the requests in flight.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

/// Runs a server: `serve` is the adapter's `serve(listener, state, shutdown)`.
pub fn run<F, Fut>(name: &'static str, default_port: u16, threads: Threads, serve: F) -> ExitCode
where
    F: FnOnce(TcpListener, AppState, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let config = Config::parse_for(name, default_port);
    init_logging();
    raise_open_file_limit();
    let runtime = match threads {
        Threads::TokioWorkers => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.workers())
            .enable_all()
            .build(),
        Threads::FrameworkWorkers => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .expect("building the tokio runtime");
    runtime.block_on(async move {
        let state =
            match tokio::time::timeout(Duration::from_secs(10), AppState::connect(&config)).await {
                Ok(Ok(state)) => state,
                Ok(Err(error)) => {
                    eprintln!(
                        "{name}: cannot use the database at {}: {error}\n\
                     Is PostgreSQL running? `loadgen db start` starts the managed cluster and \
                     `loadgen db status` prints its URL.",
                        redact(&config.database_url)
                    );
                    return ExitCode::FAILURE;
                }
                Err(_) => {
                    eprintln!(
                        "{name}: the database at {} did not answer within 10 s",
                        redact(&config.database_url)
                    );
                    return ExitCode::FAILURE;
                }
            };
        let listener = match TcpListener::bind((config.host, config.port))
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!(
                    "{name}: cannot listen on {}:{}: {error}",
                    config.host, config.port
                );
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            server = name,
            address = %listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
            driver = config.driver.name(),
            pool_size = config.pool_size,
            workers = config.workers(),
            shutdown_timeout = ?config.shutdown_timeout,
            "listening"
        );
        match serve(listener, state, Box::pin(shutdown_signal())).await {
            Ok(()) => {
                tracing::info!(server = name, "stopped");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{name}: server error: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Raises the soft limit on open files to the hard limit, so that many client
/// connections plus the pool do not run out of descriptors at the default
/// soft limit (often 1024).
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised the open-file limit"),
            Err(error) => {
                tracing::warn!(%error, soft, hard, "cannot raise the open-file limit")
            }
        },
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot read the open-file limit"),
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
