//! Where loadgen reads and writes: chosen when it runs, never where it was
//! built, so an installed loadgen works from any directory.

use std::path::PathBuf;

use clap::Args;
use schema::Cluster;

/// Results, server binaries and the managed cluster: flags shared by `run` and `compare`.
#[derive(Args, Debug, Clone)]
pub struct Places {
    /// Directory the run records and comparisons are saved in (relative to
    /// the working directory).
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,
    /// Directory of the stackbench-<server> binaries
    /// [default: next to loadgen, else on PATH].
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataDir,
}

/// The managed PostgreSQL cluster's directory: used when DATABASE_URL is not set.
#[derive(Args, Debug, Clone)]
pub struct DataDir {
    /// Directory of the managed PostgreSQL cluster (used when DATABASE_URL is
    /// not set) [default: STACKBENCH_PG_DIR, else
    /// $XDG_DATA_HOME/stackbench/postgres or ~/.local/share/stackbench/postgres].
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

impl DataDir {
    pub fn cluster(&self) -> Cluster {
        match &self.data_dir {
            Some(dir) => Cluster::at(dir),
            None => Cluster::default_location(),
        }
    }

    /// The database to use, migrated: DATABASE_URL's (if stackbench created
    /// it), else the managed cluster's, started if needed; where that lives
    /// is said on stderr, so a stray cluster is never a mystery.
    pub async fn database_url(&self) -> anyhow::Result<String> {
        let cluster = self.cluster();
        let url = schema::database_url(&cluster).await?;
        if schema::external_url().is_none() {
            eprintln!("managed PostgreSQL: {} ({url})", cluster.dir().display());
        }
        Ok(url)
    }
}
