//! The stacks stackbench compares, described once.
//!
//! A stack is an HTTP server binary named `stackbench-<name>` that takes the
//! same command line as every other (`--port`, `--database-url` or
//! `DATABASE_URL`, `--driver`, `--pool-size`, `--workers`, the timeouts,
//! `--version`) and serves the contract in `schema/openapi.yaml`. What
//! differs between stacks is only what this table says: the language, the
//! port it prefers, the database drivers it can run on, and how its binary is
//! built. loadgen (`run`, `compare`, `serve`, `stacks`), the conformance suite
//! and the scripts all read this one table, so a new stack is added here once.
//!
//! The Rust stacks are workspace binaries (`cargo build --bins`); the others
//! are built by their own toolchains into the same directory
//! (`loadgen stacks build`), so every stack is found the same way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One server stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stack {
    /// What it is called on the command line and in results.
    pub name: &'static str,
    pub language: &'static str,
    /// The HTTP layer, as a reader would name it.
    pub framework: &'static str,
    /// The port it listens on by default (and when loadgen starts it, if free).
    pub port: u16,
    /// The `--driver` values it accepts; the first is its default.
    pub drivers: &'static [&'static str],
    /// How long a client may take to send a request head (or keep an idle
    /// keep-alive connection) before the server closes the connection.
    pub head_timeout: Duration,
    /// How long a request waits for a pooled connection before it is
    /// answered 503; `None` where the pool has no such limit (Bun's waits).
    pub pool_timeout: Option<Duration>,
    pub build: Build,
}

/// How a stack's binary comes to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// A binary of this Cargo workspace.
    Cargo,
    /// `go build` of the module in this directory of the checkout.
    Go { dir: &'static str },
    /// `bun build --compile` of this entry point: one executable with the
    /// Bun runtime inside, so it starts like any other binary.
    Bun { entry: &'static str },
}

const RUST_DRIVERS: &[&str] = &["tokio-postgres", "sqlx"];

/// The header-read timeout every server that can set one uses.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Bun's own, fixed: Bun.serve has no setting for a request head that never
/// ends (its `idleTimeout` covers idle connections only), and cuts one after
/// about 10 s.
const BUN_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the Rust and Go servers let a request wait for a pooled
/// connection (`shop::store::POOL_TIMEOUT`, and its Go twin).
const POOL_TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

/// Every stack, in the order tables list them.
pub const STACKS: &[Stack] = &[
    Stack {
        name: "hyper",
        language: "Rust",
        framework: "hyper 1 (hand routing)",
        port: 3000,
        drivers: RUST_DRIVERS,
        head_timeout: HEAD_TIMEOUT,
        pool_timeout: POOL_TIMEOUT,
        build: Build::Cargo,
    },
    Stack {
        name: "axum",
        language: "Rust",
        framework: "axum 0.8",
        port: 3001,
        drivers: RUST_DRIVERS,
        head_timeout: HEAD_TIMEOUT,
        pool_timeout: POOL_TIMEOUT,
        build: Build::Cargo,
    },
    Stack {
        name: "actix",
        language: "Rust",
        framework: "actix-web 4",
        port: 3002,
        drivers: RUST_DRIVERS,
        head_timeout: HEAD_TIMEOUT,
        pool_timeout: POOL_TIMEOUT,
        build: Build::Cargo,
    },
    Stack {
        name: "go-nethttp",
        language: "Go",
        framework: "net/http (hand routing)",
        port: 3003,
        drivers: &["lib/pq"],
        head_timeout: HEAD_TIMEOUT,
        pool_timeout: POOL_TIMEOUT,
        build: Build::Go {
            dir: "servers/go-nethttp",
        },
    },
    Stack {
        name: "bun",
        language: "TypeScript",
        framework: "Bun.serve routes",
        port: 3004,
        drivers: &["bun-sql"],
        head_timeout: BUN_HEAD_TIMEOUT,
        pool_timeout: None,
        build: Build::Bun {
            entry: "servers/bun/main.ts",
        },
    },
    Stack {
        name: "bun-hono",
        language: "TypeScript",
        framework: "Hono on Bun.serve",
        port: 3005,
        drivers: &["bun-sql"],
        head_timeout: BUN_HEAD_TIMEOUT,
        pool_timeout: None,
        build: Build::Bun {
            entry: "servers/bun-hono/main.ts",
        },
    },
];

/// The stack called `name`.
pub fn find(name: &str) -> Option<&'static Stack> {
    STACKS.iter().find(|stack| stack.name == name)
}

/// Every stack's name, comma-separated, for help and error messages.
pub fn names() -> String {
    STACKS
        .iter()
        .map(|stack| stack.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every driver any stack accepts, each once.
pub fn all_drivers() -> Vec<&'static str> {
    let mut drivers: Vec<&'static str> = Vec::new();
    for driver in STACKS.iter().flat_map(|stack| stack.drivers) {
        if !drivers.contains(driver) {
            drivers.push(driver);
        }
    }
    drivers
}

/// Where Bun is installed by `npm ci` in `servers/` (never globally).
pub const BUN: &str = "servers/node_modules/.bin/bun";

impl Stack {
    pub fn binary_name(&self) -> String {
        format!("stackbench-{}", self.name)
    }

    pub fn default_driver(&self) -> &'static str {
        self.drivers[0]
    }

    /// The driver to run on: `asked`, if this stack has it, else its default.
    pub fn driver<'a>(&self, asked: Option<&'a str>) -> Result<&'a str, String> {
        let driver = asked.unwrap_or(self.default_driver());
        if !self.drivers.contains(&driver) {
            return Err(format!(
                "{} does not run on {driver}; it runs on {}",
                self.name,
                self.drivers.join(", ")
            ));
        }
        Ok(driver)
    }

    /// The command that builds this stack's binary into `out_dir`, from the
    /// checkout at `source`; `None` for a Cargo binary (cargo builds those).
    /// Err says what toolchain is missing and how to get it.
    pub fn build_command(&self, source: &Path, out_dir: &Path) -> Result<Option<Command>, String> {
        let output = out_dir.join(self.binary_name());
        match self.build {
            Build::Cargo => Ok(None),
            Build::Go { dir } => {
                if !on_path("go") {
                    return Err(format!(
                        "{}: Go is not installed; `bash scripts/setup.sh` installs it (Debian \
                         packages golang-go and golang-github-lib-pq-dev)",
                        self.name
                    ));
                }
                let mut command = Command::new("go");
                command
                    .current_dir(source.join(dir))
                    .args(["build", "-trimpath", "-o"])
                    .arg(output)
                    .arg(".")
                    // Offline: lib/pq comes from the OS package (go.mod's replace).
                    .env("GOPROXY", "off")
                    .env("GOFLAGS", "-mod=mod")
                    .env("GOTOOLCHAIN", "local");
                Ok(Some(command))
            }
            Build::Bun { entry } => {
                let bun = source.join(BUN);
                if !bun.is_file() {
                    return Err(format!(
                        "{}: Bun is not installed in {}; `bash scripts/setup.sh` installs it \
                         (npm ci in servers/)",
                        self.name,
                        source.join("servers").display()
                    ));
                }
                let mut command = Command::new(bun);
                command
                    .args(["build", "--compile", "--outfile"])
                    .arg(output)
                    .arg(source.join(entry));
                Ok(Some(command))
            }
        }
    }

    /// This stack's binary in `dir`, if it is there.
    pub fn binary_in(&self, dir: &Path) -> Option<PathBuf> {
        let path = dir.join(self.binary_name());
        path.is_file().then_some(path)
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .any(|dir| dir.join(program).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ports_and_binaries_are_unique() {
        for (i, a) in STACKS.iter().enumerate() {
            assert!(!a.drivers.is_empty(), "{} has no driver", a.name);
            for b in &STACKS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.port, b.port, "{} and {} share a port", a.name, b.name);
            }
        }
        assert_eq!(find("go-nethttp").unwrap().default_driver(), "lib/pq");
        assert!(find("nginx").is_none());
    }
}
