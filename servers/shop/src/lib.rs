//! `shop`: the contract every stackbench server implements.
//!
//! stackbench compares HTTP frameworks, so everything that is not the
//! framework lives here, once: the domain types and their validation
//! ([`model`], [`money`]), the error type with its status and JSON body
//! ([`error`]), the framework-neutral pieces of request handling ([`http`]),
//! the store on both database drivers ([`store`]), configuration
//! ([`config`]) and the common `main` ([`launch`]). A server adapter only
//! routes, extracts and responds with its framework's own tools; if two
//! adapters would share a line of logic, it belongs here.

pub mod config;
pub mod error;
pub mod http;
pub mod launch;
pub mod model;
pub mod money;
pub mod store;

pub use config::Config;
pub use error::{ApiError, ErrorCode};
pub use store::{Driver, Store, StoreError};

/// What a server needs to serve: the store, and how many workers to run.
/// Cheap to clone (the pools are reference-counted).
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Worker threads, for frameworks that start their own (actix-web).
    pub workers: usize,
}

impl AppState {
    pub async fn connect(config: &Config) -> Result<AppState, StoreError> {
        let store = Store::connect(
            config.driver,
            &config.database_url,
            config.pool_size as usize,
        )
        .await?;
        Ok(AppState {
            store,
            workers: config.workers(),
        })
    }
}
