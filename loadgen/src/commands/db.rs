//! `loadgen db ...`: the database lifecycle, fronting the `schema` crate.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Subcommand;
use schema::cluster::Status;
use schema::{external_url, Dataset};

use crate::commands::places::DataDir;

#[derive(Subcommand)]
pub enum Action {
    /// Start the managed PostgreSQL cluster (initialising it on first use) and
    /// apply the migrations. Starting a running cluster reuses it.
    Start,
    /// Stop the managed cluster.
    Stop,
    /// Say whether the managed cluster runs, and print its connection URL.
    /// Exits 3 when it is not running.
    Status,
    /// Print only the URL of the database to use (starting the managed
    /// cluster if needed), for scripts: DATABASE_URL=$(loadgen db url).
    Url,
    /// Create the database DATABASE_URL names on your own PostgreSQL server
    /// (connecting to its `postgres` database; the role needs CREATEDB), mark
    /// it as stackbench's and apply the migrations. Only a database created
    /// this way (or the managed cluster's) may be reset by loadgen.
    Create,
    /// Empty the tables and fill them with a deterministic dataset. Refused
    /// for a database stackbench did not create (see `create`).
    Reset {
        /// Number of users.
        #[arg(long, default_value_t = Dataset::SMALL.users)]
        users: u32,
        /// Number of products, spread over a fixed set of categories.
        #[arg(long, default_value_t = Dataset::SMALL.products)]
        products: u32,
        /// Initial stock of every product.
        #[arg(long, default_value_t = Dataset::SMALL.stock)]
        stock: u32,
    },
}

pub async fn run(action: Action, data: &DataDir) -> anyhow::Result<ExitCode> {
    let cluster = data.cluster();
    match action {
        Action::Start => {
            if let Some(url) = external_url() {
                println!("DATABASE_URL is set; not starting the managed cluster. Using {url}");
            }
            let url = data.database_url().await?;
            println!("migrations applied; URL: {url}");
        }
        Action::Stop => {
            if cluster.stop().await? {
                println!("managed PostgreSQL stopped ({})", cluster.dir().display());
            } else {
                println!(
                    "managed PostgreSQL was not running ({})",
                    cluster.dir().display()
                );
            }
        }
        Action::Status => {
            if let Some(url) = external_url() {
                println!("DATABASE_URL is set: loadgen and the tests use {url}");
            }
            return Ok(match cluster.status().await? {
                Status::Running(running) => {
                    println!("managed PostgreSQL: running on port {}", running.port);
                    println!("data directory: {}", cluster.dir().display());
                    println!("{}", running.url);
                    ExitCode::SUCCESS
                }
                Status::Stopped => {
                    println!(
                        "managed PostgreSQL in {}: stopped (start it with `loadgen db start`)",
                        cluster.dir().display()
                    );
                    ExitCode::from(3)
                }
                Status::NotInitialized => {
                    println!(
                        "managed PostgreSQL in {}: not created yet (`loadgen db start` creates it)",
                        cluster.dir().display()
                    );
                    ExitCode::from(3)
                }
            });
        }
        Action::Url => println!("{}", data.database_url().await?),
        Action::Create => {
            let Some(url) = external_url() else {
                bail!(
                    "DATABASE_URL is not set: `loadgen db create` creates the database it names \
                     on your own server, e.g. DATABASE_URL=postgres://me@localhost/stackbench. \
                     The managed cluster needs no create: `loadgen db start`"
                );
            };
            let created = schema::create_database(&url)
                .await
                .with_context(|| format!("creating the database of DATABASE_URL ({url})"))?;
            match created {
                true => println!("created, marked as stackbench's and migrated: {url}"),
                false => println!("already created by stackbench; migrations applied: {url}"),
            }
        }
        Action::Reset {
            users,
            products,
            stock,
        } => {
            let url = data.database_url().await?;
            let client = schema::connect(&url).await?;
            let started = Instant::now();
            schema::seed::reset(
                &client,
                Dataset {
                    users,
                    products,
                    stock,
                },
            )
            .await
            .context("resetting the data")?;
            let [users, products, orders, items] = schema::seed::counts(&client).await?;
            println!(
                "reset in {:.2} s: {users} users, {products} products (stock {stock} each), \
                 {orders} orders, {items} order items",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
