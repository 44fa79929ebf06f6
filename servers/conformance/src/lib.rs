//! The harness of the conformance suite: start a real server binary on a
//! free port against a fresh, seeded database, and talk HTTP to it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use schema::testing::TestDatabase;
use schema::Dataset;

pub use stacks::{self, Stack, STACKS};

/// A module `$name` of one test per server × driver, each calling
/// `$check(server, driver)`: every stack gets every check. A new stack or
/// driver in [`stacks::STACKS`] must be listed here too (each module checks).
#[macro_export]
macro_rules! every_stack {
    ($name:ident: $check:path) => {
        mod $name {
            $crate::every_stack!(@tests $check;
                hyper_on_tokio_postgres: "hyper", "tokio-postgres";
                hyper_on_sqlx: "hyper", "sqlx";
                axum_on_tokio_postgres: "axum", "tokio-postgres";
                axum_on_sqlx: "axum", "sqlx";
                actix_on_tokio_postgres: "actix", "tokio-postgres";
                actix_on_sqlx: "actix", "sqlx";
                go_nethttp_on_lib_pq: "go-nethttp", "lib/pq";
                bun_on_bun_sql: "bun", "bun-sql";
                bun_hono_on_bun_sql: "bun-hono", "bun-sql";
            );
        }
    };
    // One test per listed pair; every_server! uses it too.
    (@each $check:path; $($test:ident: $server:literal, $driver:literal;)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                $check($server, $driver).await;
            }
        )+
    };
    (@tests $check:path; $($test:ident: $server:literal, $driver:literal;)+) => {
        $crate::every_stack!(@each $check; $($test: $server, $driver;)+);

        #[test]
        fn lists_every_stack_and_driver() {
            let listed = [$(($server, $driver)),+];
            let known: Vec<(&str, &str)> = $crate::STACKS
                .iter()
                .flat_map(|stack| stack.drivers.iter().map(|driver| (stack.name, *driver)))
                .collect();
            assert_eq!(listed.to_vec(), known, "every_stack! must list every stack x driver");
        }
    };
}

/// A module `$name` of one test per HTTP front end (server), each on one of
/// its drivers, calling `$check(server, driver)`: for checks of what the
/// server itself answers (the spec fuzz), where running every driver again
/// would test the same code. The Rust servers share the two drivers between
/// them, so each driver is still exercised. Each module checks that it lists
/// every server of [`stacks::STACKS`] once.
#[macro_export]
macro_rules! every_server {
    ($name:ident: $check:path) => {
        mod $name {
            $crate::every_server!(@tests $check;
                hyper_on_tokio_postgres: "hyper", "tokio-postgres";
                axum_on_sqlx: "axum", "sqlx";
                actix_on_tokio_postgres: "actix", "tokio-postgres";
                go_nethttp_on_lib_pq: "go-nethttp", "lib/pq";
                bun_on_bun_sql: "bun", "bun-sql";
                bun_hono_on_bun_sql: "bun-hono", "bun-sql";
            );
        }
    };
    (@tests $check:path; $($test:ident: $server:literal, $driver:literal;)+) => {
        $crate::every_stack!(@each $check; $($test: $server, $driver;)+);

        #[test]
        fn lists_every_server_once_on_a_driver_of_its_own() {
            let listed = [$(($server, $driver)),+];
            let servers: Vec<&str> = listed.iter().map(|(server, _)| *server).collect();
            let known: Vec<&str> = $crate::STACKS.iter().map(|stack| stack.name).collect();
            assert_eq!(servers, known, "every_server! must list every server once");
            for (server, driver) in listed {
                let stack = $crate::STACKS.iter().find(|stack| stack.name == server).unwrap();
                assert!(stack.drivers.contains(&driver), "{server} has no driver {driver}");
            }
        }
    };
}

/// The data every conformance run starts from.
pub const DATASET: Dataset = Dataset {
    users: 50,
    products: 30,
    stock: 100,
};

/// A running server binary and its database; both go away on drop.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDatabase,
    child: Child,
}

/// A stack's binary in the profile directory this test binary was built in
/// (`target/debug` for `target/debug/deps/conformance-*`).
pub fn binary(server: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join(format!("stackbench-{server}"));
    assert!(
        path.is_file(),
        "{} is missing: build the stacks first with `cargo build --bins` and \
         `target/debug/loadgen stacks build` (scripts/test.sh does both)",
        path.display()
    );
    path
}

impl Server {
    /// Starts `stackbench-<server>` with `driver` on a new seeded database and
    /// waits until `/health/db` answers.
    pub async fn start(server: &str, driver: &str) -> Server {
        Server::start_with(server, driver, &[]).await
    }

    /// [`Server::start`] with `args` added to the server's command line.
    pub async fn start_with(server: &str, driver: &str, args: &[&str]) -> Server {
        let db = TestDatabase::create().await.expect("a test database");
        schema::seed::reset(&db.client().await.unwrap(), DATASET)
            .await
            .unwrap();
        Server::start_on_with(server, driver, db, args).await
    }

    /// Starts `stackbench-<server>` with `driver` and `args` on `db`, and
    /// waits until `/health/db` answers.
    pub async fn start_on_with(
        server: &str,
        driver: &str,
        db: TestDatabase,
        args: &[&str],
    ) -> Server {
        let port = schema::free_port(None).expect("a free port");
        // A small pool and two workers unless the test says otherwise.
        let defaults = [("--workers", "2"), ("--pool-size", "8")]
            .into_iter()
            .filter(|(flag, _)| !args.contains(flag))
            .flat_map(|(flag, value)| [flag, value]);
        let child = Command::new(binary(server))
            .args(["--port", &port.to_string(), "--driver", driver])
            .args(["--database-url", &db.url])
            .args(defaults)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting the server");
        let server = Server {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            db,
            child,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self
                .http
                .get(format!("{}/health/db", self.base))
                .send()
                .await
            {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `method path` with an optional JSON body (as raw text, so that
    /// malformed JSON can be sent) and returns the response.
    pub async fn call(&self, method: &str, path: &str, json: Option<&str>) -> Reply {
        let mut request = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(body) = json {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        Reply::from(request.send().await.expect("the server answers")).await
    }

    /// Sends a raw request built by `build`.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Reply::from(request.send().await.expect("the server answers")).await
    }

    /// Writes raw request bytes (as far as the server reads them: it may
    /// answer and close early) and returns the raw response text.
    pub async fn raw(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let _ = stream.write_all(request).await;
        let mut response = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response));
        let _ = read.await;
        String::from_utf8_lossy(&response).into_owned()
    }

    /// The server's peak resident memory (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    /// Sends SIGTERM to the server and returns at once.
    pub fn sigterm(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits (without blocking the runtime) up to `within` for the server to
    /// exit; its exit status, or `None` if it is still running.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Reply {
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.expect("a body"),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts a JSON response of `status` and returns its body.
    pub fn expect(&self, status: u16) -> serde_json::Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        self.json()
    }

    /// Asserts an error response of the contract's shape, and returns its message.
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        let body = self.expect(status);
        let error = body
            .as_object()
            .and_then(|b| b.get("error"))
            .and_then(|e| e.as_object());
        let error = error.unwrap_or_else(|| panic!("not an error body: {body}"));
        assert_eq!(body.as_object().unwrap().len(), 1, "extra keys: {body}");
        assert_eq!(error.len(), 2, "error has extra keys: {body}");
        assert_eq!(error["code"], code, "{body}");
        let message = error["message"].as_str().expect("a message string");
        assert!(!message.is_empty());
        message.to_string()
    }
}
