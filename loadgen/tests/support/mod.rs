//! What loadgen's integration tests share: scratch places of their own,
//! reading back what a run saved, and a stack served on a database of its
//! own. Each test binary uses only part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use schema::testing::TestDatabase;
use serde_json::Value;

pub mod probe;

/// This test process's scratch directory, named after its test binary.
fn scratch() -> PathBuf {
    let binary = std::env::current_exe().unwrap();
    let stem = binary.file_stem().unwrap().to_string_lossy();
    let name = stem.split('-').next().unwrap_or("tests");
    std::env::temp_dir().join(format!("loadgen-{name}-{}", std::process::id()))
}

/// A path for a file in this process's scratch directory.
pub fn temp(name: &str) -> PathBuf {
    let dir = scratch();
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A fresh, empty directory in this process's scratch directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = temp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The stacks of a saved comparison, in its table's order.
pub fn stack_labels(comparison: &Value) -> Vec<String> {
    comparison["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|summary| summary["contender"]["label"].as_str().unwrap().to_string())
        .collect()
}

/// The tolerance of the generator's own lateness in these tests: they run
/// loadgen's debug build, which spends several times the release build's
/// CPU on each request, beside the servers and PostgreSQL on the same cores,
/// so its sends can be a few milliseconds late by its own fault, and runs
/// would be invalid (`--generator-late-by`, 1 ms by default) for what the
/// tests here do not check. A generator stopped for 150 ms is still caught.
pub const GENERATOR_LATE_BY: &str = "10ms";

/// The share of sends that may be that late, for the same reason: the
/// tests' runs are short (a few hundred requests at times), and two tests
/// run at once on CI's two cores, so one 10 ms hiccup of the test machine
/// is over 1% of a run.
pub const GENERATOR_LATE_SHARE: &str = "5%";

/// `loadgen`, as the tests run it.
pub fn loadgen_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    command.env("LOADGEN_GENERATOR_LATE_BY", GENERATOR_LATE_BY);
    command.env("LOADGEN_GENERATOR_LATE_SHARE", GENERATOR_LATE_SHARE);
    command
}

/// A finished command's exit status and what it printed, for a failed
/// assertion's message.
pub fn explain(output: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `GET path` on 127.0.0.1:port: the status and body, or None if nothing
/// answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// A stack that `loadgen serve` runs in the foreground on a seeded database
/// of its own, on a free port; killed when dropped.
pub struct Served {
    pub server: Child,
    pub port: u16,
    pub url: String,
    _database: TestDatabase,
}

impl Served {
    /// Starts `stack` and waits until `GET /health/db` answers 200: the
    /// server is up and reaches its database.
    pub fn start(stack: &str) -> Served {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let database = runtime.block_on(TestDatabase::create()).unwrap();
        let port = schema::free_port(None).unwrap();
        let mut server = loadgen_command()
            .args(["serve", stack, "--reset", "--port", &port.to_string()])
            .env("DATABASE_URL", &database.url)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(port, "/health/db").is_none_or(|(status, _)| status != 200) {
            assert!(server.try_wait().unwrap().is_none(), "{stack} exited early");
            assert!(Instant::now() < deadline, "{stack} did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Served {
            server,
            port,
            url: format!("http://127.0.0.1:{port}"),
            _database: database,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
