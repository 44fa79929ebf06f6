//! What every server's `main` does: read the config, start logging, build
//! the runtime, connect to the database, bind, serve until SIGINT/SIGTERM.
//! A server's `main.rs` is one call to [`run`].

use std::future::Future;
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{Config, Runtime};
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

/// The future that resolves when the server is to stop.
pub type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a server: `serve` is the adapter's `serve(listener, state, shutdown)`.
pub fn run<F, Fut>(name: &'static str, default_port: u16, threads: Threads, serve: F) -> ExitCode
where
    F: Fn(TcpListener, AppState, Shutdown) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = std::io::Result<()>>,
{
    let config = Config::parse_for(name, default_port);
    init_logging();
    raise_open_file_limit();
    let per_core = threads == Threads::TokioWorkers && config.runtime == Runtime::PerCore;
    let runtime = match threads {
        Threads::TokioWorkers if !per_core => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.workers())
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
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
        let sockets = if per_core { config.workers() } else { 1 };
        let listeners = match bind(&config, sockets) {
            Ok(listeners) => listeners,
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
            address = %listeners[0].local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
            driver = config.driver.name(),
            pool_size = config.pool_size,
            workers = config.workers(),
            runtime = ?config.runtime,
            shutdown_timeout = ?config.shutdown_timeout,
            "listening"
        );
        let served = if per_core {
            serve_per_core(listeners, state, serve).await
        } else {
            let listener = listeners.into_iter().next().expect("one listener");
            serve(listener, state, Box::pin(shutdown_signal())).await
        };
        match served {
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

/// `count` listening sockets on the configured address: one, or one per
/// worker sharing the port (`SO_REUSEPORT`, so the kernel spreads new
/// connections over them).
fn bind(config: &Config, count: usize) -> std::io::Result<Vec<TcpListener>> {
    if count == 1 {
        let listener = TcpListener::bind((config.host, config.port))?;
        listener.set_nonblocking(true)?;
        return Ok(vec![listener]);
    }
    let mut address = std::net::SocketAddr::new(config.host, config.port);
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(address),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&address.into())?;
        socket.listen(1024)?;
        let listener = TcpListener::from(socket);
        // With port 0 the first socket picks the port; the others take it.
        address = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves on one thread per listener, each running its own single-threaded
/// runtime with its own pool, until SIGINT/SIGTERM (or until one worker
/// fails); then stops them all and waits for each to drain.
async fn serve_per_core<F, Fut>(
    listeners: Vec<TcpListener>,
    state: AppState,
    serve: F,
) -> std::io::Result<()>
where
    F: Fn(TcpListener, AppState, Shutdown) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = std::io::Result<()>>,
{
    let workers = listeners.len();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (ended, mut ended_early) = tokio::sync::mpsc::unbounded_channel();
    let mut threads = Vec::with_capacity(workers);
    for (worker, listener) in listeners.into_iter().enumerate() {
        let (state, mut stopping, ended) = (state.clone(), stopping.clone(), ended.clone());
        let thread = std::thread::Builder::new()
            .name(format!("worker-{worker}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let served = runtime.block_on(async move {
                    let state = state
                        .own_pool(worker, workers)
                        .map_err(std::io::Error::other)?;
                    let shutdown = async move {
                        let _ = stopping.wait_for(|stop| *stop).await;
                    };
                    serve(listener, state, Box::pin(shutdown)).await
                });
                let _ = ended.send(());
                served
            })?;
        threads.push(thread);
    }
    tokio::select! {
        () = shutdown_signal() => {}
        _ = ended_early.recv() => tracing::error!("a worker stopped; stopping the others"),
    }
    let _ = stop.send(true);
    let mut result = Ok(());
    for thread in threads {
        let served = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(std::io::Error::other)?
            .unwrap_or_else(|_| Err(std::io::Error::other("a worker thread panicked")));
        if let Err(error) = served {
            result = Err(error);
        }
    }
    result
}

/// Raises the soft limit on open files to the hard limit, so that many client
/// connections plus the pool do not run out of descriptors at the default
/// soft limit (often 1024).
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "the open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
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
