//! Ordered SQL migrations, embedded at build time and applied exactly once.

use tokio_postgres::Client;

/// The migrations in the order they apply. A migration never changes once it
/// has landed: add a new file instead.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_tables", include_str!("../migrations/0001_tables.sql")),
    (
        "0002_indexes",
        include_str!("../migrations/0002_indexes.sql"),
    ),
    (
        "0003_stock_limit",
        include_str!("../migrations/0003_stock_limit.sql"),
    ),
];

/// Applies every migration not yet recorded in `schema_migrations`, each in
/// its own transaction. Safe to call concurrently: an advisory lock
/// serialises callers.
pub async fn run(client: &Client) -> crate::Result<Vec<&'static str>> {
    // Any fixed key works; it only has to be the same for every caller.
    const LOCK_KEY: i64 = 0x5354_4143_4B42_4E43; // "STACKBNC"
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply_pending(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    result
}

async fn apply_pending(client: &Client) -> crate::Result<Vec<&'static str>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 name       TEXT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let applied: Vec<String> = client
        .query("SELECT name FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut newly_applied = Vec::new();
    for (name, sql) in MIGRATIONS {
        if applied.iter().any(|done| done == name) {
            continue;
        }
        let script = format!(
            "BEGIN;\n{sql}\nINSERT INTO schema_migrations (name) VALUES ('{name}');\nCOMMIT;"
        );
        client
            .batch_execute(&script)
            .await
            .map_err(|error| crate::Error::Other(format!("migration {name} failed: {error}")))?;
        newly_applied.push(*name);
    }
    Ok(newly_applied)
}
