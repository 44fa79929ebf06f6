//! Server configuration, the same flags and variables for every server.

use std::net::IpAddr;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::store::Driver;

#[derive(Debug, Clone, Parser)]
#[command(
    about = "A stackbench server: the users / products / orders API on PostgreSQL.",
    long_about = None,
    version
)]
pub struct Config {
    /// Port to listen on.
    #[arg(long, env = "PORT")]
    pub port: u16,

    /// Address to listen on; 0.0.0.0 to accept connections from other hosts.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// PostgreSQL URL, e.g. postgres://user@127.0.0.1:5432/stackbench.
    /// `loadgen db status` prints the URL of the managed cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// Connections in the database pool.
    #[arg(long, env = "POOL_SIZE", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,

    /// Database driver.
    #[arg(long, env = "DB_DRIVER", value_enum, default_value_t = Driver::TokioPostgres)]
    pub driver: Driver,

    /// Worker threads serving requests [default: all cores].
    #[arg(long, env = "WORKERS", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,
}

impl Config {
    /// Parses the command line and environment of the server `name`, whose
    /// port defaults to `default_port`.
    pub fn parse_for(name: &'static str, default_port: u16) -> Config {
        let command = Config::command()
            .name(name)
            .mut_arg("port", |arg| arg.default_value(default_port.to_string()));
        let matches = command.get_matches();
        Config::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }

    pub fn workers(&self) -> usize {
        self.workers
            .map(|w| w as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
