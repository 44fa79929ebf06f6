//! What load is sent to: a URL, or a stackbench server binary that loadgen
//! starts (on its own port, or a free one if that is taken, against the
//! benchmark database), measures and stops.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::measure::record::{Identity, ProcessUsage};
use anyhow::{bail, Context};

pub mod affinity;

pub const SERVERS: [&str; 3] = ["hyper", "axum", "actix"];
pub const DRIVERS: [&str; 2] = ["tokio-postgres", "sqlx"];

/// A server process started by loadgen.
pub struct ServerProcess {
    child: Child,
    pub address: SocketAddr,
    pub identity: Identity,
}

/// Parses `--target`: a server name or an `http://host:port` URL.
pub enum TargetSpec {
    Server(String),
    Url { address: SocketAddr, url: String },
}

pub fn parse_target(text: &str) -> anyhow::Result<TargetSpec> {
    if SERVERS.contains(&text) {
        return Ok(TargetSpec::Server(text.to_string()));
    }
    let Some(rest) = text.strip_prefix("http://") else {
        bail!(
            "--target must be one of {} or an http://host:port URL, not {text:?}",
            SERVERS.join(", ")
        );
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let address = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority:?}"))?
        .next()
        .with_context(|| format!("{authority:?} resolves to no address"))?;
    Ok(TargetSpec::Url {
        address,
        url: format!("http://{authority}"),
    })
}

/// The release binary of `server`, next to this loadgen binary.
pub fn server_binary(server: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the loadgen binary")?;
    let path = exe.with_file_name(format!("stackbench-{server}"));
    if !path.is_file() {
        bail!(
            "{} is missing: build the servers with `cargo build --release --bins` \
             (or run scripts/compare.sh, which does)",
            path.display()
        );
    }
    Ok(path)
}

/// The server's own port (hyper 3000, axum 3001, actix 3002) when it is
/// free, else any free port.
fn port_for(server: &str) -> anyhow::Result<u16> {
    let own = match server {
        "hyper" => 3000,
        "axum" => 3001,
        _ => 3002,
    };
    if TcpListener::bind(("127.0.0.1", own)).is_ok() {
        return Ok(own);
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl ServerProcess {
    /// Starts `server` with `driver` against `database_url`, pinned to
    /// `cpus` when given, and waits until `/health/db` answers.
    pub async fn start(
        server: &str,
        driver: &str,
        database_url: &str,
        workers: Option<usize>,
        cpus: Option<&[usize]>,
    ) -> anyhow::Result<ServerProcess> {
        let binary = server_binary(server)?;
        let version = Command::new(&binary)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let port = port_for(server)?;
        let mut command = Command::new(&binary);
        command
            .args(["--port", &port.to_string(), "--driver", driver])
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(workers) = workers {
            command.args(["--workers", &workers.to_string()]);
        }
        if let Some(cpus) = cpus {
            crate::stack::affinity::pin_command(&mut command, cpus);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut process = ServerProcess {
            child,
            address,
            identity: Identity {
                server: server.to_string(),
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

    pub fn usage(&self) -> ProcessUsage {
        process_usage(self.child.id()).unwrap_or_default()
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

/// `GET /health/db` answered 200.
pub async fn health_db(address: SocketAddr) -> bool {
    let request = format!("GET /health/db HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let Ok(Ok(mut connection)) = tokio::time::timeout(
        Duration::from_secs(2),
        crate::engine::http1::Connection::connect(address),
    )
    .await
    else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), connection.round_trip(request.as_bytes(), false)).await,
        Ok(Ok(response)) if response.status == 200
    )
}

/// CPU time and peak RSS of a process, from `/proc/<pid>`.
pub fn process_usage(pid: u32) -> Option<ProcessUsage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()?? as f64;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Some(ProcessUsage {
        cpu_seconds: (utime + stime) / ticks_per_second,
        peak_rss_bytes: peak_kb * 1024,
    })
}
