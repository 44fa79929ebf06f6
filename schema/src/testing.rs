//! A fresh, migrated database for each test, zero2prod style.
//!
//! Tests run in parallel and reset data freely, so each gets a database of its
//! own, copied from a migrated template (a copy takes milliseconds; migrating
//! from scratch would not). The template's name carries a hash of the
//! migrations, so a schema change makes a new one.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::migrate::MIGRATIONS;
use crate::Result;

/// A database that exists for as long as this value does.
pub struct TestDatabase {
    /// `postgres://` URL of the test's own database.
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a migrated, empty database on the managed cluster (started if
    /// needed), or on the server of `DATABASE_URL` when that is set (whose
    /// own database is only connected to). Like every database stackbench
    /// creates, it is marked, so it may be reset.
    pub async fn create() -> Result<TestDatabase> {
        TestDatabase::new(true).await
    }

    /// Creates a migrated, empty database on `cluster` (started if needed),
    /// whatever `DATABASE_URL` says: for tests that stop and start a
    /// cluster of their own.
    pub async fn create_on(cluster: &crate::Cluster) -> Result<TestDatabase> {
        let admin_url = cluster.ensure_running().await?.url;
        TestDatabase::new_on(admin_url, true).await
    }

    /// Creates a database with no tables at all, to test the migrations.
    pub async fn unmigrated() -> Result<TestDatabase> {
        TestDatabase::new(false).await
    }

    async fn new(migrated: bool) -> Result<TestDatabase> {
        let admin_url = crate::server_url(&crate::Cluster::default_location()).await?;
        TestDatabase::new_on(admin_url, migrated).await
    }

    async fn new_on(admin_url: String, migrated: bool) -> Result<TestDatabase> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin = crate::connect(&admin_url).await?;
        let template = match migrated {
            true => ensure_template(&admin, &admin_url).await?,
            false => "template0".to_string(),
        };
        let name = format!(
            "test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        retry_while_in_use(
            &admin,
            &format!("CREATE DATABASE {name} TEMPLATE {template}"),
        )
        .await?;
        crate::marker::mark(&admin, &name).await?;
        Ok(TestDatabase {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `tokio-postgres` client on this database.
    pub async fn client(&self) -> Result<tokio_postgres::Client> {
        crate::connect(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop cannot await; a short-lived runtime on its own thread can.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = crate::connect(&admin_url).await.ok()?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        });
        let _ = dropper.join();
    }
}

/// Makes the migrated template once per schema version; the rename at the
/// end is what marks it complete, so a crash midway leaves no half template.
async fn ensure_template(admin: &tokio_postgres::Client, admin_url: &str) -> Result<String> {
    let digest = MIGRATIONS.iter().fold(0u64, |acc, (name, sql)| {
        acc ^ crate::cluster::fnv1a(name.as_bytes())
            ^ crate::cluster::fnv1a(sql.as_bytes()).rotate_left(7)
    });
    let template = format!("stackbench_template_{digest:016x}");
    let exists = |name: String| async move {
        admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .map(|row| row.is_some())
    };
    if exists(template.clone()).await? {
        return Ok(template);
    }
    const LOCK_KEY: i64 = 0x5354_4b42_5445_4d50; // "STKBTEMP"
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = async {
        if exists(template.clone()).await? {
            return Ok(());
        }
        let building = format!("{template}_building");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await?;
        {
            let client = crate::connect(&with_database(admin_url, &building)).await?;
            crate::migrate::run(&client).await?;
        }
        retry_while_in_use(
            admin,
            &format!("ALTER DATABASE {building} RENAME TO {template}"),
        )
        .await?;
        Ok::<(), crate::Error>(())
    }
    .await;
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    result.map(|()| template)
}

/// Runs `sql`, retrying for a few seconds while PostgreSQL says the database
/// is in use: copying a template and renaming a database both need it idle,
/// and a just-closed connection takes a moment to go.
async fn retry_while_in_use(admin: &tokio_postgres::Client, sql: &str) -> Result<()> {
    let mut attempts = 0;
    loop {
        match admin.batch_execute(sql).await {
            Ok(()) => return Ok(()),
            Err(error)
                if attempts < 50
                    && error.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) =>
            {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5/db", "x"),
            "postgres://u@h:5/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
