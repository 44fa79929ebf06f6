//! The one schema of stackbench, and the database it lives in.
//!
//! Every server, both drivers, `loadgen` and every test see the same tables
//! because they all come from here:
//!
//! - [`migrate`] applies the ordered SQL files in `schema/migrations/`.
//! - [`seed`] resets the data to a deterministic dataset with set-based SQL.
//! - [`cluster`] finds the PostgreSQL binaries on the machine and runs a
//!   throwaway cluster in a per-user data directory, so nothing needs a
//!   database set up by hand. `DATABASE_URL`, when set, replaces it.
//! - [`marker`] marks every database stackbench creates; nothing is migrated
//!   or reset in a database without the mark.
//! - [`testing`] hands each test a fresh, migrated database of its own.
//! - [`ledger`] checks what every write must keep true: stock conserved,
//!   totals equal to their items.
//!
//! The crate uses `tokio-postgres` only: it is the smaller of the two drivers
//! and none of this code is on a measured path.

pub mod cluster;
pub mod ledger;
pub mod marker;
pub mod migrate;
pub mod seed;
pub mod testing;

use std::time::Duration;

pub use cluster::{free_port, Cluster};
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
    #[error(
        "database `{database}` was not created by stackbench (it lacks the stackbench marker), \
         so stackbench will not migrate, empty or re-seed it.\n\
         To run on your own PostgreSQL server, point DATABASE_URL at a new database name and run \
         `loadgen db create`, which creates and marks it; or unset DATABASE_URL to use the \
         managed cluster."
    )]
    NotCreatedByStackbench { database: String },
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
    connect_with(&url.parse()?).await
}

async fn connect_with(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
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

/// `DATABASE_URL`, when set and not empty: the user's own database replaces the managed cluster.
pub fn external_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// `DATABASE_URL`, or the URL of `cluster`'s database (started if it is not
/// running), as it is: for connections that only create databases.
pub(crate) async fn server_url(cluster: &Cluster) -> Result<String> {
    match external_url() {
        Some(url) => Ok(url),
        None => Ok(cluster.ensure_running().await?.url),
    }
}

/// The database URL to use: `DATABASE_URL` when set, else `cluster`'s
/// (started if it is not running); migrated either way, after checking that
/// stackbench created it ([`marker`]).
pub async fn database_url(cluster: &Cluster) -> Result<String> {
    let url = server_url(cluster).await?;
    let client = connect(&url).await?;
    marker::check(&client).await?;
    migrate::run(&client).await?;
    Ok(url)
}

/// Creates the database `url` names on its server, marks it as
/// stackbench's and migrates it: what `loadgen db create` does for a user's
/// own PostgreSQL. It connects to the `postgres` maintenance database with
/// the same credentials to create it. Returns false when the database
/// already existed with the marker; refuses one without it.
pub async fn create_database(url: &str) -> Result<bool> {
    let config: tokio_postgres::Config = url.parse()?;
    // Like libpq, a URL without a database name means the user's name.
    let database = config
        .get_dbname()
        .or(config.get_user())
        .ok_or_else(|| Error::Other(format!("{url} names no database: add /NAME to it")))?
        .to_string();
    let mut maintenance = config.clone();
    maintenance.dbname("postgres");
    let admin = connect_with(&maintenance).await?;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await?
        .is_some();
    if exists {
        if !marker::is_marked(&admin, &database).await? {
            return Err(Error::NotCreatedByStackbench { database });
        }
    } else {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {}",
                marker::quote_identifier(&database)
            ))
            .await?;
        marker::mark(&admin, &database).await?;
    }
    migrate::run(&connect(url).await?).await?;
    Ok(!exists)
}
