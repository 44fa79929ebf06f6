//! Server configuration, the same flags and variables for every server.

use std::net::IpAddr;

use clap::{CommandFactory, FromArgMatches, Parser};

use shop::{DbTimeouts, Driver};

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
    #[arg(long, env = "DB_DRIVER", default_value = "tokio-postgres", value_parser = driver_parser())]
    pub driver: Driver,

    /// Worker threads serving requests [default: all cores].
    #[arg(long, env = "WORKERS", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,

    /// How hyper and axum run their workers: `multi-thread`, tokio's
    /// work-stealing runtime (their usual set-up), or `per-core`, one
    /// single-threaded runtime per worker with its own listening socket and
    /// its share of the pool, the way actix-web always runs (it ignores this).
    #[arg(long, env = "RUNTIME", value_enum, default_value_t = Runtime::MultiThread)]
    pub runtime: Runtime,

    /// Longest a statement may run before the database cancels it (503);
    /// e.g. 5s, 500ms; 0 for no limit.
    #[arg(long, env = "STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub statement_timeout: std::time::Duration,

    /// Longest a statement may wait for a row or table lock (503); 0 for no limit.
    #[arg(long, env = "LOCK_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,

    /// Longest a connection may sit idle inside a transaction before the
    /// database closes it, releasing its locks; 0 for no limit.
    #[arg(long, env = "IDLE_IN_TRANSACTION_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub idle_in_transaction_timeout: std::time::Duration,

    /// After SIGINT/SIGTERM, how long requests in flight get to finish
    /// (e.g. 10s, 2s, 500ms); connections still open then are cut.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: std::time::Duration,
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

    /// The per-connection database timeouts.
    pub fn db_timeouts(&self) -> DbTimeouts {
        DbTimeouts {
            statement: self.statement_timeout,
            lock: self.lock_timeout,
            idle_in_transaction: self.idle_in_transaction_timeout,
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
            .map(|w| w as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// How the hyper and axum servers run their worker threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    #[default]
    MultiThread,
    PerCore,
}

/// A duration as written on the command line: `10s`, `500ms`, `2m`, or a bare
/// number of seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 10s or 500ms"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s or m)"
            ))
        }
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// `--driver` takes the names of `shop`'s drivers, and lists them in `--help`.
fn driver_parser() -> impl clap::builder::TypedValueParser<Value = Driver> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Driver::ALL.map(Driver::name))
        .map(|name: String| Driver::from_name(&name).expect("a listed driver"))
}
