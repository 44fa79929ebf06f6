//! The one schema of stackbench, and the database it lives in.
//!
//! Every server, both drivers, `loadgen` and every test see the same tables
//! because they all come from here:
//!
//! - [`migrate`] applies the ordered SQL files in `schema/migrations/`.
//! - [`seed`] resets the data to a deterministic dataset with set-based SQL.
//! - [`cluster`] finds the PostgreSQL binaries on the machine and runs a
//!   throwaway cluster under `target/`, so nothing needs a database set up by
//!   hand. `DATABASE_URL`, when set, replaces it.
//! - [`testing`] hands each test a fresh, migrated database of its own.
//!
//! The crate uses `tokio-postgres` only: it is the smaller of the two drivers
//! and none of this code is on a measured path.

pub mod cluster;
pub mod migrate;
pub mod seed;
pub mod testing;

use std::time::Duration;

pub use cluster::Cluster;
pub use seed::Dataset;

/// Errors of the database lifecycle. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, \
         via `pg_config --bindir` or in /usr/lib/postgresql/*/bin.\n\
         Install them, e.g. on Debian/Ubuntu: `apt-get install postgresql`, \
         or run `scripts/setup.sh`; or set DATABASE_URL to a database you manage."
    )]
    BinariesNotFound,
    #[error(
        "running as root, PostgreSQL must run as an unprivileged user, but user `postgres` \
         does not exist. Install the `postgresql` package (it creates the user) or run as a \
         normal user."
    )]
    NoUnprivilegedUser,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_context(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Connects with `tokio-postgres` and drives the connection on the current runtime.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "schema connection closed");
        }
    });
    Ok(client)
}

/// Connects, retrying for up to `patience` while the server is starting.
pub async fn connect_patiently(url: &str, patience: Duration) -> Result<tokio_postgres::Client> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match connect(url).await {
            Ok(client) => return Ok(client),
            Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The database URL to use: `DATABASE_URL` when set, else the managed
/// cluster's (started if it is not running), migrated either way.
pub async fn database_url() -> Result<String> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => Cluster::default_location().ensure_running().await?.url,
    };
    let client = connect(&url).await?;
    migrate::run(&client).await?;
    Ok(url)
}
