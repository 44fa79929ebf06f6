//! A throwaway PostgreSQL cluster managed by the project.
//!
//! It lives in one directory (by default a per-user data directory, see
//! [`Cluster::default_location`]): `data/` holds the cluster, `postgres.log`
//! its log.
//! All its settings are in [`SETTINGS`], written to `data/stackbench.conf`,
//! which is also where the chosen port is recorded. Starting is idempotent and
//! serialised by a file lock, so parallel tests and commands can all call
//! [`Cluster::ensure_running`].

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::fs::{chown, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::process::Command;

use crate::{io_context, Error, Result};

/// The database that `loadgen` and the servers use in the managed cluster.
pub const DATABASE: &str = "stackbench";
/// The cluster's superuser; local connections are trusted.
pub const USER: &str = "stackbench";

/// Every setting of the managed cluster, in one place. The data is
/// throwaway, so durability is off: the benchmark measures the servers, not
/// the disk, and the setting is the same for every stack.
pub const SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "'127.0.0.1'"),
    ("unix_socket_directories", "''"),
    // Pools of 20 for several servers, plus tests running in parallel.
    ("max_connections", "300"),
    ("shared_buffers", "'256MB'"),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("log_min_messages", "warning"),
];

/// Where a managed cluster lives.
#[derive(Debug, Clone)]
pub struct Cluster {
    dir: PathBuf,
}

/// A running cluster and how to reach it.
#[derive(Debug, Clone)]
pub struct Running {
    pub port: u16,
    /// `postgres://` URL of the [`DATABASE`] database.
    pub url: String,
    /// False when an already running cluster was reused.
    pub started: bool,
}

#[derive(Debug, Clone)]
pub enum Status {
    NotInitialized,
    Stopped,
    Running(Running),
}

impl Cluster {
    /// `STACKBENCH_PG_DIR` if set, else `stackbench/postgres` in the user's
    /// data directory (`$XDG_DATA_HOME`, or `~/.local/share`): never a path
    /// fixed at build time, so every loadgen binary and test of one user
    /// shares one cluster.
    ///
    /// When running as root, the server runs as user `postgres`, which must be
    /// able to reach the directory; if it cannot (e.g. under a private /root,
    /// or not made yet), a directory under the system temp dir is used instead.
    pub fn default_location() -> Cluster {
        if let Some(dir) = std::env::var_os("STACKBENCH_PG_DIR").filter(|d| !d.is_empty()) {
            return Cluster::at(dir);
        }
        let dir = user_data_dir().join("stackbench").join("postgres");
        if nix::unistd::geteuid().is_root() && !reachable_by_others(&dir) {
            let tag = fnv1a(dir.as_os_str().as_encoded_bytes());
            return Cluster::at(std::env::temp_dir().join(format!("stackbench-pg-{tag:x}")));
        }
        Cluster::at(dir)
    }

    pub fn at(dir: impl Into<PathBuf>) -> Cluster {
        Cluster { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn settings_file(&self) -> PathBuf {
        self.data_dir().join("stackbench.conf")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Starts the cluster unless it runs already (initialising it first if
    /// needed), then makes sure the [`DATABASE`] database exists.
    pub async fn ensure_running(&self) -> Result<Running> {
        fs::create_dir_all(&self.dir)
            .map_err(io_context(format!("creating {}", self.dir.display())))?;
        let _lock = self.lock().await?;
        let bin = find_binaries()?;
        let owner = server_user()?;
        if let Some(user) = &owner {
            chown(&self.dir, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(
                io_context(format!("giving {} to postgres", self.dir.display())),
            )?;
        }
        if !self.data_dir().join("PG_VERSION").exists() {
            self.initdb(&bin, owner.as_ref()).await?;
        }
        let mut port = self.recorded_port()?;
        let started = !self.is_running(&bin, owner.as_ref()).await?;
        if started {
            let free = free_port(Some(port))?;
            if free != port {
                port = free;
                self.write_settings(port, owner.as_ref())?;
            }
            self.pg_ctl_start(&bin, owner.as_ref()).await?;
        }
        let running = Running {
            port,
            url: url_for(port, DATABASE),
            started,
        };
        create_database_if_missing(port).await?;
        Ok(running)
    }

    /// Stops the cluster. Returns false if it was not running.
    pub async fn stop(&self) -> Result<bool> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(false);
        }
        let _lock = self.lock().await?;
        let bin = find_binaries()?;
        let owner = server_user()?;
        if !self.is_running(&bin, owner.as_ref()).await? {
            return Ok(false);
        }
        let data = self.data_dir();
        run(
            "pg_ctl stop",
            pg_command(&bin.join("pg_ctl"), owner.as_ref(), &self.dir)
                .arg("-D")
                .arg(&data)
                .args(["-m", "fast", "-w", "-t", "60", "stop"]),
        )
        .await?;
        Ok(true)
    }

    pub async fn status(&self) -> Result<Status> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(Status::NotInitialized);
        }
        let bin = find_binaries()?;
        let owner = server_user()?;
        if !self.is_running(&bin, owner.as_ref()).await? {
            return Ok(Status::Stopped);
        }
        let port = self.recorded_port()?;
        Ok(Status::Running(Running {
            port,
            url: url_for(port, DATABASE),
            started: false,
        }))
    }

    async fn lock(&self) -> Result<File> {
        let path = self.dir.join("lock");
        let file =
            File::create(&path).map_err(io_context(format!("opening {}", path.display())))?;
        tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|e| Error::Other(e.to_string()))?
            .map_err(io_context(format!("locking {}", path.display())))
    }

    async fn initdb(&self, bin: &Path, owner: Option<&nix::unistd::User>) -> Result<()> {
        let data = self.data_dir();
        if data.exists() {
            // A half-made data directory from an interrupted initdb.
            fs::remove_dir_all(&data)
                .map_err(io_context(format!("removing {}", data.display())))?;
        }
        run(
            "initdb",
            pg_command(&bin.join("initdb"), owner, &self.dir)
                .arg("-D")
                .arg(&data)
                .args(["--username", USER, "--auth", "trust", "--encoding", "UTF8"])
                .args(["--no-locale", "--no-sync"]),
        )
        .await?;
        let conf = data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(io_context("reading postgresql.conf"))?;
        text.push_str(
            "\n# stackbench: every setting it needs is in this file\ninclude 'stackbench.conf'\n",
        );
        fs::write(&conf, text).map_err(io_context("writing postgresql.conf"))?;
        self.write_settings(free_port(None)?, owner)
    }

    fn write_settings(&self, port: u16, owner: Option<&nix::unistd::User>) -> Result<()> {
        let mut text = String::from(
            "# Written by stackbench (schema/src/cluster.rs); regenerated on port changes.\n",
        );
        text.push_str(&format!("port = {port}\n"));
        for (name, value) in SETTINGS {
            text.push_str(&format!("{name} = {value}\n"));
        }
        let path = self.settings_file();
        fs::write(&path, text).map_err(io_context(format!("writing {}", path.display())))?;
        if let Some(user) = owner {
            chown(&path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(io_context(format!("chown {}", path.display())))?;
        }
        Ok(())
    }

    fn recorded_port(&self) -> Result<u16> {
        let path = self.settings_file();
        let text =
            fs::read_to_string(&path).map_err(io_context(format!("reading {}", path.display())))?;
        text.lines()
            .find_map(|line| line.strip_prefix("port = "))
            .and_then(|port| port.trim().parse().ok())
            .ok_or_else(|| Error::Other(format!("no `port = N` line in {}", path.display())))
    }

    async fn is_running(&self, bin: &Path, owner: Option<&nix::unistd::User>) -> Result<bool> {
        let output = pg_command(&bin.join("pg_ctl"), owner, &self.dir)
            .arg("-D")
            .arg(self.data_dir())
            .arg("status")
            .output()
            .await
            .map_err(io_context("running pg_ctl status"))?;
        // pg_ctl status: 0 running, 3 not running, 4 no data directory.
        Ok(output.status.success())
    }

    async fn pg_ctl_start(&self, bin: &Path, owner: Option<&nix::unistd::User>) -> Result<()> {
        let result = run(
            "pg_ctl start",
            pg_command(&bin.join("pg_ctl"), owner, &self.dir)
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file())
                .args(["-w", "-t", "60", "start"]),
        )
        .await;
        result.map(drop).map_err(|error| {
            let log = fs::read_to_string(self.log_file()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Error::Other(format!(
                "{error}\nlast lines of {}:\n{}",
                self.log_file().display(),
                tail.join("\n")
            ))
        })
    }
}

/// `postgres://` URL for `database` on the managed cluster at `port`.
pub fn url_for(port: u16, database: &str) -> String {
    format!("postgres://{USER}@127.0.0.1:{port}/{database}")
}

/// Creates the [`DATABASE`] database and marks it as stackbench's: the
/// whole cluster is (stackbench ran initdb), so a missing mark, say from an
/// interrupted start, is written again.
async fn create_database_if_missing(port: u16) -> Result<()> {
    let client =
        crate::connect_patiently(&url_for(port, "postgres"), Duration::from_secs(10)).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
        .await?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await?;
    }
    if !crate::marker::is_marked(&client, DATABASE).await? {
        crate::marker::mark(&client, DATABASE).await?;
    }
    Ok(())
}

/// The user's data directory: `$XDG_DATA_HOME` (when absolute, as the XDG
/// spec asks), else `~/.local/share`; the home directory from `HOME`, else
/// the user database, else the temp dir for a user with no home at all.
fn user_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
    {
        return dir;
    }
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.dir)
        })
        .unwrap_or_else(std::env::temp_dir);
    home.join(".local").join("share")
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `STACKBENCH_PG_BIN`,
/// then PATH, then `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_binaries() -> Result<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(std::env::var_os("STACKBENCH_PG_BIN").map(PathBuf::from));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    if let Ok(out) = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
    {
        if out.status.success() {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                Some((version, e.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        candidates.extend(versions.into_iter().map(|(_, bin)| bin));
    }
    candidates
        .into_iter()
        .find(|dir| has_all(dir))
        .ok_or(Error::BinariesNotFound)
}

/// PostgreSQL refuses to run as root; then it runs as `postgres`.
fn server_user() -> Result<Option<nix::unistd::User>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some(user)),
        _ => Err(Error::NoUnprivilegedUser),
    }
}

fn pg_command(program: &Path, owner: Option<&nix::unistd::User>, cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(cwd)
        .env("LC_ALL", "C")
        .kill_on_drop(false);
    if let Some(user) = owner {
        command
            .uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .env("HOME", &user.dir)
            .env("USER", &user.name);
    }
    command
}

async fn run(what: &str, command: &mut Command) -> Result<Output> {
    // The server started by pg_ctl inherits stdout/stderr; keep it off ours.
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(io_context(format!("running {what}")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::Command {
            what: what.to_string(),
            detail: format!(
                "{}\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on: `preferred` when it is
/// free, else one the OS picks. Every process stackbench starts (a cluster,
/// a server) gets its port this way.
///
/// A port is only known to be free when asked: the process told to listen
/// on it binds it a moment later, and another may take it in between. Two
/// callers in one process (tests running in parallel) would be the likeliest
/// to collide, since the OS may hand a port out again once its listener is
/// dropped, so within a process no picked port is handed out twice.
pub fn free_port(preferred: Option<u16>) -> Result<u16> {
    static PICKED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    if let Some(port) = preferred.filter(|port| port_is_free(*port)) {
        return Ok(port);
    }
    let mut picked = PICKED.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(io_context("finding a free port"))?;
        let port = listener
            .local_addr()
            .map_err(io_context("finding a free port"))?
            .port();
        if picked.insert(port) {
            return Ok(port);
        }
    }
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Whether `path` and every ancestor exist and let other users through (`o+x`).
fn reachable_by_others(path: &Path) -> bool {
    path.ancestors().all(|dir| {
        fs::metadata(dir)
            .map(|m| m.mode() & 0o001 != 0)
            .unwrap_or(false)
    })
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
