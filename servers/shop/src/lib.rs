//! `shop`: the contract every stackbench server implements.
//!
//! stackbench compares HTTP frameworks, so everything that is not the
//! framework lives here, once: the domain types and their validation
//! ([`model`], [`money`]), the error type with its status and JSON body
//! ([`error`]), the framework-neutral pieces of request handling ([`http`]),
//! the store on both database drivers ([`store`]), configuration
//! ([`config`]), the common `main` ([`launch`]) and the hyper connection
//! loop, with its timeouts, that the hyper and axum adapters share
//! ([`serve`]). A server adapter only routes, extracts and responds with its
//! framework's own tools; if two adapters would share a line of logic, it
//! belongs here.

pub mod config;
pub mod error;
pub mod http;
pub mod launch;
pub mod model;
pub mod money;
pub mod serve;
pub mod store;

pub use config::Config;
pub use error::{ApiError, ErrorCode};
pub use store::{DbTimeouts, Driver, Store, StoreError};

/// What a server needs to serve: the store, and how many workers to run.
/// Cheap to clone (the pools are reference-counted).
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Worker threads, for frameworks that start their own (actix-web).
    pub workers: usize,
    /// How long requests in flight get after SIGINT/SIGTERM (`--shutdown-timeout`).
    pub shutdown_timeout: std::time::Duration,
}

impl AppState {
    pub async fn connect(config: &Config) -> Result<AppState, StoreError> {
        let store = Store::connect_with(
            config.driver,
            &config.database_url,
            config.pool_size as usize,
            config.db_timeouts(),
        )
        .await?;
        Ok(AppState {
            store,
            workers: config.workers(),
            shutdown_timeout: config.shutdown_timeout,
        })
    }
}
