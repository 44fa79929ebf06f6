//! The table of stacks from the command line, with the real binaries: a
//! missing toolchain is named with the way to get it (and skipped only when
//! the stack was not asked for by name), `compare` skips a stack that is not
//! built and runs the rest, and `serve` runs a stack in the foreground on a
//! seeded database until SIGTERM.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{get, read_json, stack_labels, temp_dir, Served};

mod support;

fn checkout() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn loadgen(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    command.args(args).current_dir(checkout());
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_missing_toolchain_is_named_and_skipped_only_when_not_asked_for() {
    let dir = temp_dir("build");
    let no_go = |args: &[&str]| {
        loadgen(args)
            .arg("--bin-dir")
            .arg(&dir)
            .env("PATH", "/nonexistent")
            .output()
            .unwrap()
    };
    let named = no_go(&["stacks", "build", "go-nethttp"]);
    assert!(!named.status.success(), "{}", stderr(&named));
    assert!(
        stderr(&named).contains("Go is not installed; `bash scripts/setup.sh` installs it"),
        "{}",
        stderr(&named)
    );

    let all = no_go(&["stacks", "build"]);
    assert!(all.status.success(), "{}", stderr(&all));
    assert!(
        stderr(&all).contains("skipping go-nethttp: Go is not installed"),
        "{}",
        stderr(&all)
    );
    // The stacks whose toolchain is there were built, and run.
    for name in ["stackbench-bun", "stackbench-bun-hono"] {
        let version = Command::new(dir.join(name))
            .arg("--version")
            .output()
            .unwrap();
        let version = String::from_utf8_lossy(&version.stdout);
        assert!(version.starts_with(name), "{name} --version: {version}");
    }
    assert!(!dir.join("stackbench-go-nethttp").exists());
}

#[test]
fn compare_skips_a_stack_that_is_not_built_and_runs_the_rest() {
    let dir = temp_dir("compare");
    let axum = Path::new(env!("CARGO_BIN_EXE_loadgen")).with_file_name("stackbench-axum");
    std::fs::copy(&axum, dir.join("stackbench-axum")).unwrap();
    let out = dir.join("compare.json");
    let output = loadgen(&[
        "compare",
        "--scenario",
        "smoke",
        "--servers",
        "axum,go-nethttp",
    ])
    .args(["--rounds", "1", "--duration", "500ms", "--warmup", "200ms"])
    .args(["--no-latency-phase", "--results-dir"])
    .arg(&dir)
    .arg("--bin-dir")
    .arg(&dir)
    .arg("--out")
    .arg(&out)
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("skipping go-nethttp: stackbench-go-nethttp is not in --bin-dir")
            && stderr(&output).contains("loadgen stacks build go-nethttp"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stack_labels(&read_json(&out)), ["axum+tokio-postgres"]);
}

#[test]
fn serve_runs_a_stack_on_a_seeded_database_until_sigterm() {
    let mut served = Served::start("go-nethttp");
    let port = served.port;
    // --reset seeded the database: user 1000 exists, 1001 does not.
    let (status, body) = get(port, "/users/1000").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""username":"user1000""#), "{body}");
    assert_eq!(get(port, "/users/1001").unwrap().0, 404);

    // serve became the server: SIGTERM reaches it and it stops cleanly.
    let pid = served.server.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = served.server.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit {status}");
}

#[test]
fn a_driver_a_stack_does_not_have_is_refused_before_any_load() {
    for (args, message) in [
        (
            &[
                "run",
                "--scenario",
                "smoke",
                "--target",
                "go-nethttp",
                "--driver",
                "sqlx",
            ][..],
            "go-nethttp does not run on sqlx; it runs on lib/pq",
        ),
        (
            &["serve", "bun", "--driver", "tokio-postgres"][..],
            "bun does not run on tokio-postgres; it runs on bun-sql",
        ),
    ] {
        let output = loadgen(args).output().unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    }
}
