//! `loadgen db ...`: the database lifecycle, fronting the `schema` crate.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use schema::cluster::Status;
use schema::{Cluster, Dataset};

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
    /// Empty the tables and fill them with a deterministic dataset.
    Reset {
        /// Number of users.
        #[arg(long, default_value_t = 1000)]
        users: u32,
        /// Number of products, spread over a fixed set of categories.
        #[arg(long, default_value_t = 100)]
        products: u32,
        /// Initial stock of every product.
        #[arg(long, default_value_t = 1000)]
        stock: u32,
    },
}

fn external_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

pub async fn run(action: Action) -> anyhow::Result<ExitCode> {
    let cluster = Cluster::default_location();
    match action {
        Action::Start => {
            if let Some(url) = external_url() {
                println!("DATABASE_URL is set; not starting the managed cluster. Using {url}");
            }
            let url = schema::database_url().await?;
            if external_url().is_none() {
                println!("managed PostgreSQL running in {}", cluster.dir().display());
            }
            println!("migrations applied; URL: {url}");
        }
        Action::Stop => {
            if cluster.stop().await? {
                println!("managed PostgreSQL stopped");
            } else {
                println!("managed PostgreSQL was not running");
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
                    println!("managed PostgreSQL: stopped (start it with `loadgen db start`)");
                    ExitCode::from(3)
                }
                Status::NotInitialized => {
                    println!("managed PostgreSQL: not created yet (`loadgen db start` creates it)");
                    ExitCode::from(3)
                }
            });
        }
        Action::Url => println!("{}", schema::database_url().await?),
        Action::Reset {
            users,
            products,
            stock,
        } => {
            let url = schema::database_url().await?;
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
