//! Safe and installable, with real processes and the real PostgreSQL: a URL
//! target leaves the database alone unless `--reset-db`; a database
//! stackbench did not create is never migrated or reset, and `loadgen db
//! create` makes one that may be; an installed loadgen (binaries copied out
//! of the checkout) runs from an empty directory and writes only there.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use schema::testing::{with_database, TestDatabase};
use schema::Dataset;
use serde_json::Value;
use support::temp_dir;

mod support;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A server that answers every request, `/health/db` included, with 200
/// `{"status":"ok"}`: it uses no database, so only loadgen could touch one.
fn start_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    url
}

fn serve(mut stream: TcpStream) {
    let mut buffer = Vec::new();
    loop {
        // One request head at a time; nothing here sends a body.
        let used = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            if let Ok(httparse::Status::Complete(used)) =
                httparse::Request::new(&mut headers).parse(&buffer)
            {
                break used;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        buffer.drain(..used);
        let body = r#"{"status":"ok"}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The dataset of [`scenario`], what `--reset-db` resets to.
const SCENARIO_DATASET: [i64; 4] = [3, 2, 0, 0];

/// A scenario of one GET against the test server, with a small dataset.
fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("untouched.toml");
    std::fs::write(
        &path,
        "name = \"untouched\"\n[dataset]\nusers = 3\nproducts = 2\nstock = 7\n\
         [[flow]]\nname = \"ok\"\n[[flow.step]]\nmethod = \"GET\"\npath = \"/ok\"\nexpect = 200\n",
    )
    .unwrap();
    path
}

/// Runs the loadgen under test with `DATABASE_URL` as given (or unset).
fn loadgen(args: &[&str], database_url: Option<&str>) -> Output {
    let mut command = support::loadgen_command();
    command.args(args).env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("loadgen runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_against(server: &str, dir: &Path, extra: &[&str], database_url: &str) -> (Output, Value) {
    let scenario = scenario(dir);
    let out = dir.join("run.json");
    let _ = std::fs::remove_file(&out);
    let mut args = vec!["run", "--scenario", scenario.to_str().unwrap()];
    args.extend(["--target", server, "--out", out.to_str().unwrap()]);
    args.extend([
        "--connections",
        "2",
        "--duration",
        "300ms",
        "--warmup",
        "0s",
    ]);
    args.extend(["--threads", "1"]);
    args.extend(extra);
    let output = loadgen(&args, Some(database_url));
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stderr),
        text(&output.stdout)
    );
    let record = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    (output, record)
}

#[test]
fn a_url_target_leaves_the_database_alone_unless_reset_db() {
    let runtime = runtime();
    let db = runtime.block_on(TestDatabase::create()).unwrap();
    let client = runtime.block_on(db.client()).unwrap();
    let dataset = Dataset {
        users: 5,
        products: 4,
        stock: 10,
    };
    runtime
        .block_on(schema::seed::reset(&client, dataset))
        .unwrap();
    runtime
        .block_on(client.batch_execute(
            "INSERT INTO orders (user_id, status, total_amount) VALUES (1, 'confirmed', 9.99)",
        ))
        .unwrap();
    let counts = || runtime.block_on(schema::seed::counts(&client)).unwrap();
    let order_total = || -> Option<String> {
        runtime
            .block_on(client.query_opt(
                "SELECT total_amount::text FROM orders WHERE user_id = 1",
                &[],
            ))
            .unwrap()
            .map(|row| row.get(0))
    };
    assert_eq!(counts(), [5, 4, 1, 0]);
    let server = start_server();
    let dir = temp_dir("url-target");

    let (_, record) = run_against(&server, &dir, &[], &db.url);
    assert_eq!(record["config"]["reset"], false);
    assert!(record["total"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(counts(), [5, 4, 1, 0], "the run changed the data");
    assert_eq!(order_total().as_deref(), Some("9.99"));

    // Not even a connection: a DATABASE_URL nothing listens on does not matter.
    run_against(&server, &dir, &[], "postgres://nobody@127.0.0.1:1/nowhere");

    let (output, record) = run_against(&server, &dir, &["--reset-db"], &db.url);
    assert!(text(&output.stderr).contains("--reset-db: resetting"));
    assert_eq!(record["config"]["reset"], true);
    assert_eq!(counts(), SCENARIO_DATASET, "--reset-db did not reset");
    assert_eq!(order_total(), None);
    let _ = std::fs::remove_dir_all(dir);
}

/// A database name on the test server, its database dropped on drop.
struct ScratchDatabase {
    url: String,
    name: String,
    admin_url: String,
}

impl ScratchDatabase {
    /// A new name on the server of `admin_url` (any database there); nothing made yet.
    fn named(admin_url: &str, tag: &str) -> ScratchDatabase {
        let name = format!("{tag}_{}", std::process::id());
        ScratchDatabase {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_string(),
        }
    }

    /// Creates it the plain way, as someone's own database: no stackbench marker.
    fn create_foreign(self, runtime: &tokio::runtime::Runtime) -> ScratchDatabase {
        runtime.block_on(async {
            let admin = schema::connect(&self.admin_url).await.unwrap();
            // One statement each: neither may run in a transaction block.
            for sql in [
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                "CREATE DATABASE {}",
            ] {
                let sql = sql.replace("{}", &self.name);
                admin.batch_execute(&sql).await.unwrap();
            }
        });
        self
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside the test's runtime, which cannot block_on again.
        let _ = std::thread::spawn(move || {
            runtime().block_on(async {
                let admin = schema::connect(&admin_url).await.ok()?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

#[test]
fn a_reset_of_a_database_stackbench_did_not_create_is_refused() {
    let runtime = runtime();
    let anchor = runtime.block_on(TestDatabase::create()).unwrap();
    let foreign = ScratchDatabase::named(&anchor.url, "someone_elses").create_foreign(&runtime);
    let client = runtime.block_on(schema::connect(&foreign.url)).unwrap();
    runtime
        .block_on(client.batch_execute(
            "CREATE TABLE customers (name TEXT); INSERT INTO customers VALUES ('alice')",
        ))
        .unwrap();
    let refused = |output: &Output| {
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "not refused: {stderr}");
        assert!(
            stderr.contains(&format!(
                "database `{}` was not created by stackbench",
                foreign.name
            )),
            "{stderr}"
        );
        assert!(stderr.contains("loadgen db create"), "{stderr}");
    };

    refused(&loadgen(&["db", "reset"], Some(&foreign.url)));
    let dir = temp_dir("foreign");
    let scenario = scenario(&dir);
    let server = start_server();
    let mut args = vec!["run", "--scenario", scenario.to_str().unwrap()];
    args.extend(["--target", &server, "--reset-db", "--duration", "300ms"]);
    args.extend(["--out", "/dev/null"]);
    refused(&loadgen(&args, Some(&foreign.url)));
    // The library refuses too: every reset goes through it.
    let error = runtime
        .block_on(schema::seed::reset(
            &client,
            Dataset {
                users: 1,
                products: 1,
                stock: 1,
            },
        ))
        .unwrap_err();
    assert!(
        matches!(error, schema::Error::NotCreatedByStackbench { .. }),
        "{error}"
    );

    // Untouched: the row is there, and no migration added a table.
    let tables: Vec<String> = runtime
        .block_on(client.query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        ))
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(tables, ["customers"]);
    let names: Vec<String> = runtime
        .block_on(client.query("SELECT name FROM customers", &[]))
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(names, ["alice"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn db_create_makes_a_database_that_may_be_reset() {
    let runtime = runtime();
    let anchor = runtime.block_on(TestDatabase::create()).unwrap();
    let made = ScratchDatabase::named(&anchor.url, "made_by_db_create");
    let output = loadgen(&["db", "create"], Some(&made.url));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("created, marked"));
    let output = loadgen(
        &[
            "db",
            "reset",
            "--users",
            "3",
            "--products",
            "2",
            "--stock",
            "5",
        ],
        Some(&made.url),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let client = runtime.block_on(schema::connect(&made.url)).unwrap();
    assert_eq!(
        runtime.block_on(schema::seed::counts(&client)).unwrap(),
        [3, 2, 0, 0]
    );
    let output = loadgen(&["db", "create"], Some(&made.url));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("already created by stackbench"));
}

/// File names in `dir` (none if it does not exist).
fn listing(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    names.sort();
    names
}

#[test]
fn an_installed_loadgen_runs_from_an_empty_directory() {
    let built = Path::new(env!("CARGO_BIN_EXE_loadgen"));
    let server = built.with_file_name("stackbench-axum");
    assert!(
        server.is_file(),
        "{} is missing: build the servers first with `cargo build --bins` (scripts/test.sh does)",
        server.display()
    );
    let root = temp_dir("installed");
    let bin = root.join("bin");
    let empty = root.join("empty");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::copy(built, bin.join("loadgen")).unwrap();
    std::fs::copy(&server, bin.join("stackbench-axum")).unwrap();

    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut command = Command::new(bin.join("loadgen"));
    command.current_dir(&empty).env_clear();
    // What a user's shell has, less anything of cargo's or of the checkout:
    // the cluster's location comes from HOME (or these variables) as in the tests.
    let kept = [
        "HOME",
        "TMPDIR",
        "XDG_DATA_HOME",
        "STACKBENCH_PG_DIR",
        "STACKBENCH_PG_BIN",
        "DATABASE_URL",
    ];
    for name in kept {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::split_paths(&path).filter(|dir| !dir.starts_with(workspace));
    command.env("PATH", std::env::join_paths(path).unwrap());
    let output = command
        .args(["run", "--scenario", "orders", "--target", "axum"])
        .args(["--duration", "1s", "--warmup", "200ms", "--threads", "1"])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(
        output.status.success(),
        "{stderr}\n{}",
        text(&output.stdout)
    );

    let saved = listing(&empty.join("results"));
    assert_eq!(saved.len(), 1, "{saved:?}");
    let name = saved[0].to_string_lossy();
    assert!(
        name.starts_with("run-orders-axum-") && name.ends_with(".json"),
        "{name}"
    );
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(empty.join("results").join(&*name)).unwrap())
            .unwrap();
    assert_eq!(record["scenario_file"], "embedded:orders");
    assert_eq!(record["target"]["server"], "axum");
    assert!(record["total"]["requests"].as_u64().unwrap() > 0);
    // Embedded at build time: `<sha>` or `<sha>-dirty`, absent only outside git.
    match record["git_commit"].as_str() {
        Some(commit) => {
            let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
            assert!(
                hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{commit}"
            );
        }
        None => assert!(!workspace.join(".git").exists(), "no git_commit"),
    }
    if std::env::var_os("DATABASE_URL").is_none() {
        assert!(stderr.contains("managed PostgreSQL: "), "{stderr}");
    }
    assert_eq!(listing(&empty), ["results"], "only results/ was written");
    // Not also (or instead) in the checkout, where a build-time path would put it.
    for dir in [workspace.join("results"), workspace.join("loadgen/results")] {
        assert!(!dir.join(&*name).exists(), "{} was written", dir.display());
    }
    let _ = std::fs::remove_dir_all(root);
}
