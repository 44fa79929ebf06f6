//! How stackbench knows a database is its own to empty.
//!
//! A reset truncates every table, so it must never reach a database that
//! someone's application uses. Every database stackbench creates carries a
//! comment (`COMMENT ON DATABASE ... IS 'created by stackbench ...'`), and
//! nothing is migrated or reset in a database without it.
//!
//! A comment rather than, say, a table: it lives in the server's catalog,
//! outside the database's data, so restoring or migrating someone's schema
//! into a database neither brings it along nor removes it; it is not copied
//! when a database is made from a template (each test database is marked
//! itself); only the database's owner or a superuser can set it; and any
//! connection can read it without touching a table.

use tokio_postgres::Client;

use crate::{Error, Result};

/// The start of the comment on every database stackbench created.
pub const MARKER: &str = "created by stackbench";

/// Marks `database` (on the server `client` is connected to) as stackbench's.
pub async fn mark(client: &Client, database: &str) -> Result<()> {
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS '{MARKER}: loadgen may empty and re-seed it'",
            quote_identifier(database)
        ))
        .await?;
    Ok(())
}

/// Whether `database` exists on the server `client` is connected to and carries the marker.
pub async fn is_marked(client: &Client, database: &str) -> Result<bool> {
    let comment: Option<String> = client
        .query_opt(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await?
        .and_then(|row| row.get(0));
    Ok(comment.is_some_and(|comment| comment.starts_with(MARKER)))
}

/// Refuses, naming it, the database `client` is connected to unless stackbench created it.
pub async fn check(client: &Client) -> Result<()> {
    let database: String = client
        .query_one("SELECT current_database()::text", &[])
        .await?
        .get(0);
    if is_marked(client, &database).await? {
        Ok(())
    } else {
        Err(Error::NotCreatedByStackbench { database })
    }
}

/// `name` as a quoted SQL identifier: any database name is safe in DDL.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
