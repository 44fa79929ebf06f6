//! What load is sent to: a URL, or a stack's server binary that loadgen
//! starts (on its own port, or a free one if that is taken, against the
//! benchmark database), measures and stops. Which stacks exist, and how each
//! is built, is the `stacks` crate's table.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::engine::http1::Connection;
use crate::engine::Destination;
use crate::measure::record::{Identity, ProcessUsage};
use anyhow::{bail, Context};

pub mod affinity;

/// clap's check of a stack name: one of the table's.
pub fn stack_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(stacks::STACKS.iter().map(|stack| stack.name))
}

/// clap's check of a driver name: one that some stack accepts.
pub fn driver_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(stacks::all_drivers())
}

/// A server process started by loadgen.
pub struct ServerProcess {
    child: Child,
    pub address: SocketAddr,
    pub identity: Identity,
}

/// Parses `--target`: a server name or an `http://host:port` URL.
pub enum TargetSpec {
    Server(String),
    Url {
        /// Every address the host resolves to (`localhost`: ::1 and 127.0.0.1).
        addresses: Vec<SocketAddr>,
        /// `host:port` as written, for the `Host` header.
        authority: String,
        url: String,
    },
}

pub fn parse_target(text: &str) -> anyhow::Result<TargetSpec> {
    if stacks::find(text).is_some() {
        return Ok(TargetSpec::Server(text.to_string()));
    }
    let Some(rest) = text.strip_prefix("http://") else {
        bail!(
            "--target must be one of {} or an http://host:port URL, not {text:?}",
            stacks::names()
        );
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.contains(']'))
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addresses: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority:?}"))?
        .collect();
    if addresses.is_empty() {
        bail!("{authority:?} resolves to no address");
    }
    Ok(TargetSpec::Url {
        addresses,
        authority: authority.to_string(),
        url: format!("http://{authority}"),
    })
}

/// How to get a missing binary of `stack`.
fn how_to_build(stack: &stacks::Stack) -> String {
    match stack.build {
        stacks::Build::Cargo => format!(
            "build the servers with `cargo build --release --bins` in the stackbench checkout, \
             or install it beside loadgen with `cargo install --path servers/{}` (the same \
             --root as loadgen's)",
            stack.name
        ),
        _ => format!(
            "build it with `loadgen stacks build {}` in the stackbench checkout \
             (scripts/compare.sh does)",
            stack.name
        ),
    }
}

/// The directory of the stack binaries: `bin_dir` when given, else the one
/// loadgen is in (where `cargo build`, `cargo install` and `loadgen stacks
/// build` put them).
pub fn binary_dir(bin_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = bin_dir {
        return Ok(dir.to_path_buf());
    }
    let exe = std::env::current_exe().context("locating the loadgen binary")?;
    Ok(exe.parent().unwrap_or(Path::new(".")).to_path_buf())
}

/// `stackbench-<name>`: in `bin_dir` when given, else next to this loadgen,
/// else on PATH.
pub fn server_binary(stack: &stacks::Stack, bin_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let name = stack.binary_name();
    let dir = binary_dir(bin_dir)?;
    if let Some(path) = stack.binary_in(&dir) {
        return Ok(path);
    }
    if bin_dir.is_some() {
        bail!(
            "{name} is not in --bin-dir {}: {}",
            dir.display(),
            how_to_build(stack)
        );
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find_map(|dir| stack.binary_in(&dir))
        .with_context(|| {
            format!(
                "{name} was found neither next to loadgen (in {}) nor on PATH: {}, \
                 or give --bin-dir DIR",
                dir.display(),
                how_to_build(stack)
            )
        })
}

/// A stack to start: a server binary that takes stackbench's flags
/// (`--port`, `--driver`, `--workers`, and `DATABASE_URL` in its
/// environment), the label it goes by in tables and records, and the port
/// it prefers. A stack of the table is found by name; `--stack LABEL=PATH`
/// names any binary, such as the same server built from another commit.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerBinary {
    pub label: String,
    pub binary: PathBuf,
    /// Its own port when free (hyper 3000, axum 3001, ...), else any.
    pub port: Option<u16>,
    /// The table's entry, for a stack started by name: its drivers.
    pub stack: Option<&'static stacks::Stack>,
}

impl ServerBinary {
    /// A stack of the table by name, its binary found by [`server_binary`].
    pub fn builtin(name: &str, bin_dir: Option<&Path>) -> anyhow::Result<ServerBinary> {
        let Some(stack) = stacks::find(name) else {
            bail!("unknown stack {name:?}: one of {}", stacks::names());
        };
        Ok(ServerBinary {
            label: stack.name.to_string(),
            binary: server_binary(stack, bin_dir)?,
            port: Some(stack.port),
            stack: Some(stack),
        })
    }

    /// Whether this stack runs on `driver` (a `--stack` binary is trusted to).
    pub fn accepts(&self, driver: &str) -> bool {
        self.stack
            .is_none_or(|stack| stack.drivers.contains(&driver))
    }

    /// The driver to run on when none is asked for: the stack's own default,
    /// else tokio-postgres (a `--stack` binary is taken to be a Rust server's).
    pub fn default_driver(&self) -> &'static str {
        self.stack
            .map_or("tokio-postgres", |stack| stack.default_driver())
    }

    /// The driver to run on: `asked`, if this stack has it, else its default.
    pub fn driver<'a>(&self, asked: Option<&'a str>) -> anyhow::Result<&'a str> {
        match self.stack {
            Some(stack) => stack.driver(asked).map_err(anyhow::Error::msg),
            None => Ok(asked.unwrap_or(self.default_driver())),
        }
    }
}

/// Parses `--stack LABEL=PATH`: a server binary built elsewhere (same flags
/// as stackbench's servers), labelled for the results.
pub fn parse_stack(text: &str) -> anyhow::Result<ServerBinary> {
    let Some((label, path)) = text.split_once('=') else {
        bail!("--stack takes LABEL=PATH (e.g. base=/tmp/base/stackbench-axum), not {text:?}");
    };
    if label.is_empty() || label.contains(|c: char| c.is_whitespace() || c == ',' || c == '+') {
        bail!("--stack {text:?}: the label must be a non-empty word without spaces, ',' or '+'");
    }
    let binary = PathBuf::from(path);
    if !binary.is_file() {
        bail!("--stack {label}: {path} is not a file; give the path of a server binary");
    }
    Ok(ServerBinary {
        label: label.to_string(),
        binary,
        port: None,
        stack: None,
    })
}

/// The database connections every server gets (its pool), and so the
/// connections of the ceiling (PostgreSQL alone) that `compare` reads stacks against.
pub const POOL_SIZE: u32 = 20;

impl ServerProcess {
    /// Starts `stack` with `driver` against `database_url`, pinned to `cpus`
    /// when given, and waits until `/health/db` answers.
    pub async fn start(
        stack: &ServerBinary,
        driver: &str,
        database_url: &str,
        workers: Option<usize>,
        cpus: Option<&[usize]>,
    ) -> anyhow::Result<ServerProcess> {
        let binary = &stack.binary;
        let version = Command::new(binary)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let port = schema::free_port(stack.port)?;
        let mut command = Command::new(binary);
        command
            .args(["--port", &port.to_string(), "--driver", driver])
            .env("DATABASE_URL", database_url)
            .env("POOL_SIZE", POOL_SIZE.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(workers) = workers {
            command.args(["--workers", &workers.to_string()]);
        }
        if let Some(cpus) = cpus {
            crate::server::affinity::pin_command(&mut command, cpus);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut process = ServerProcess {
            child,
            address,
            identity: Identity {
                server: stack.label.clone(),
                driver: Some(driver.to_string()),
                version,
                url: format!("http://{address}"),
            },
        };
        process.wait_ready().await?;
        Ok(process)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited during start-up ({status}); run it by hand to see why",
                    self.identity.server
                );
            }
            if health_db(self.address).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer /health/db within 30 s",
                    self.identity.server
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where to send load: the server's address, which is also its `Host`.
    pub fn destination(&self) -> Destination {
        Destination {
            addresses: vec![self.address],
            host: self.address.to_string(),
        }
    }

    /// Stops the server with SIGTERM (it finishes in-flight requests) and
    /// waits for it; kills it if it does not stop in 30 s.
    pub fn stop(mut self) -> anyhow::Result<()> {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!(
                    "{} did not stop within 30 s of SIGTERM; killed",
                    self.identity.server
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A connection to one of `addresses` opens within 2 s.
pub async fn reachable(addresses: &[SocketAddr]) -> Option<Connection> {
    let connect = Connection::connect_any(addresses, 0);
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Ok((connection, _))) => Some(connection),
        _ => None,
    }
}

/// `GET /health/db` of a stackbench server answered 200.
async fn health_db(address: SocketAddr) -> bool {
    let Some(mut connection) = reachable(&[address]).await else {
        return false;
    };
    let request = format!("GET /health/db HTTP/1.1\r\nHost: {address}\r\n\r\n");
    matches!(
        tokio::time::timeout(Duration::from_secs(5), connection.round_trip(request.as_bytes(), false)).await,
        Ok(Ok(response)) if response.status == 200
    )
}

/// CPU time and peak RSS of a process. The CPU time is read from the
/// process's CPU-time clock, in nanoseconds, all its threads together
/// (those gone too): `/proc/<pid>/stat` counts it in clock ticks of 10 ms,
/// which is several percent of the CPU a short gate window uses.
pub fn process_usage(pid: u32) -> Option<ProcessUsage> {
    let process = nix::unistd::Pid::from_raw(i32::try_from(pid).ok()?);
    let clock = nix::time::clock_getcpuclockid(process).ok()?;
    let cpu = nix::time::clock_gettime(clock).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Some(ProcessUsage {
        cpu_seconds: cpu.tv_sec() as f64 + cpu.tv_nsec() as f64 * 1e-9,
        peak_rss_bytes: peak_kb * 1024,
    })
}
