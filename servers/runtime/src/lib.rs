//! `server-runtime`: how a stackbench server process runs, the same for
//! every Rust adapter: its flags ([`config`]), its `main` — logging, the
//! open-file limit, the listening socket, the runtime's threads, signals and
//! a graceful stop ([`launch`]) — and the hyper connection loop with its
//! timeouts that the hyper and axum adapters share ([`serve`]).
//!
//! It is apart from `shop`, the contract, so that the contract reads without
//! command-line parsing, sockets or signals, and depends on none of them.

pub mod config;
pub mod launch;
pub mod serve;

pub use config::Config;

use shop::{DbTimeouts, Driver, Store, StoreError};

/// What a server needs to serve: the store, and how many workers to run.
/// Cheap to clone (the pools are reference-counted).
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Worker threads, for frameworks that start their own (actix-web).
    pub workers: usize,
    /// How long requests in flight get after SIGINT/SIGTERM (`--shutdown-timeout`).
    pub shutdown_timeout: std::time::Duration,
    /// How the store was opened, to open more like it ([`AppState::own_pool`]);
    /// none for a store without a database.
    pub database: Option<Database>,
}

/// The database settings a store is opened with.
#[derive(Clone)]
pub struct Database {
    pub driver: Driver,
    pub url: String,
    pub pool_size: usize,
    pub timeouts: DbTimeouts,
}

impl AppState {
    pub async fn connect(config: &Config) -> Result<AppState, StoreError> {
        let database = Database {
            driver: config.driver,
            url: config.database_url.clone(),
            pool_size: config.pool_size as usize,
            timeouts: config.db_timeouts(),
        };
        let store = Store::connect_with(
            database.driver,
            &database.url,
            database.pool_size,
            database.timeouts,
        )
        .await?;
        Ok(AppState {
            store,
            workers: config.workers(),
            shutdown_timeout: config.shutdown_timeout,
            database: Some(database),
        })
    }

    /// The state for worker `worker` of `workers`, each running its own
    /// single-threaded runtime (actix-web): a pool of its own holding its
    /// share of the connections, opened on that worker. A connection shared
    /// across such workers does its I/O through the runtime that opened it,
    /// so a request on another worker waits for that one to get round to
    /// it. With fewer connections than workers, the pool stays shared.
    pub fn own_pool(&self, worker: usize, workers: usize) -> Result<AppState, StoreError> {
        let Some(database) = &self.database else {
            return Ok(self.clone());
        };
        if database.pool_size < workers {
            return Ok(self.clone());
        }
        let share = database.pool_size / workers
            + usize::from(worker % workers < database.pool_size % workers);
        Ok(AppState {
            store: Store::open(database.driver, &database.url, share, database.timeouts)?,
            ..self.clone()
        })
    }
}
