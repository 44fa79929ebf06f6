//! loadgen's numbers, checked against a small server with known behaviour:
//! rate accuracy, coordinated-omission correction under a periodic stall,
//! every error kind, warm-up exclusion, thresholds, scenario errors and
//! bounded memory. The real servers are exercised at the end.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A test server: `/ok`, `/health/db`, `/stall` (held while the server is in
/// the last 200 ms of each second since it started), `/fail` (500),
/// `/json` (`{"status":"bad"}`), `/slow` (2 s), `/reset` (closes without an
/// answer), `/garbage` (not HTTP).
struct TestServer {
    address: std::net::SocketAddr,
    received: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    /// Stops accepting connections after `accept_for`, when given.
    fn start(accept_for: Option<Duration>) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let started = Instant::now();
        let counter = Arc::clone(&received);
        runtime.spawn(async move {
            let deadline = accept_for.map(|d| tokio::time::Instant::now() + d);
            loop {
                let accepted = match deadline {
                    Some(deadline) => {
                        match tokio::time::timeout_at(deadline, listener.accept()).await {
                            Ok(accepted) => accepted,
                            Err(_) => return, // dropping the listener refuses new connections
                        }
                    }
                    None => listener.accept().await,
                };
                let (stream, _) = accepted.unwrap();
                stream.set_nodelay(true).unwrap();
                tokio::spawn(serve_connection(stream, started, Arc::clone(&counter)));
            }
        });
        TestServer {
            address,
            received,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

async fn serve_connection(mut stream: TcpStream, started: Instant, received: Arc<AtomicU64>) {
    let mut buffer = Vec::with_capacity(4096);
    loop {
        // Read one request head (bodies are not sent to these paths).
        let (path, used) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(used)) = request.parse(&buffer) {
                break (request.path.unwrap_or("/").to_string(), used);
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        buffer.drain(..used);
        received.fetch_add(1, Ordering::Relaxed);
        let (status, body) = match path.as_str() {
            "/stall" => {
                let into_second = started.elapsed().as_millis() % 1000;
                if into_second >= 800 {
                    tokio::time::sleep(Duration::from_millis((1000 - into_second) as u64)).await;
                }
                (200, r#"{"status":"ok"}"#)
            }
            "/fail" => (500, r#"{"error":"boom"}"#),
            "/json" => (200, r#"{"status":"bad"}"#),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                (200, r#"{"status":"ok"}"#)
            }
            "/reset" => return,
            "/garbage" => {
                let _ = stream.write_all(b"NOT HTTP AT ALL\r\n\r\n").await;
                return;
            }
            _ => (200, r#"{"status":"ok"}"#),
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("loadgen-test-{}-{n}-{name}", std::process::id()))
}

/// A scenario with one flow per `(path, extra)` step.
fn scenario(steps: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("name = \"test\"\n[dataset]\nusers = 1\nproducts = 1\nstock = 1\n");
    for (path, extra) in steps {
        text.push_str(&format!(
            "[[flow]]\nname = \"{path}\"\n[[flow.step]]\nname = \"{path}\"\nmethod = \"GET\"\npath = \"{path}\"\nexpect = 200\n{extra}\n"
        ));
    }
    let path = temp_path("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("loadgen runs")
}

/// Runs loadgen against `server` and returns its exit status and run record.
fn run(server: &TestServer, scenario: &std::path::Path, extra: &[&str]) -> (Output, Value) {
    let out = temp_path("run.json");
    let mut args = vec![
        "run",
        "--scenario",
        scenario.to_str().unwrap(),
        "--no-reset",
        "--threads",
        "2",
    ];
    let url = server.url();
    let out_text = out.to_str().unwrap().to_string();
    args.extend(["--target", &url, "--out", &out_text]);
    args.extend(extra);
    let output = loadgen(&args);
    let record = std::fs::read_to_string(&out)
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or_else(|_| {
            panic!(
                "no run record; stderr: {}\nstdout: {}",
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout)
            )
        });
    (output, record)
}

/// Tests whose figures depend on timing take turns, so that on a small
/// machine one run's load does not skew another's measurement.
static TIMING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn timing_lock() -> std::sync::MutexGuard<'static, ()> {
    TIMING.lock().unwrap_or_else(|e| e.into_inner())
}

fn us(value: &Value) -> f64 {
    value.as_f64().unwrap()
}

#[test]
fn the_open_model_holds_the_rate_within_one_percent() {
    let _turn = timing_lock();
    let server = TestServer::start(None);
    let (output, record) = run(
        &server,
        &scenario(&[("/ok", "")]),
        &["--rate", "2000", "--duration", "3s", "--warmup", "1s"],
    );
    assert!(output.status.success());
    let open = &record["open_model"];
    let achieved = us(&open["achieved_rate"]);
    assert!(
        (achieved - 2000.0).abs() <= 20.0,
        "achieved {achieved} req/s of 2000"
    );
    let requests = record["total"]["requests"].as_u64().unwrap();
    assert!(
        (5940..=6060).contains(&requests),
        "{requests} requests in 3 s at 2000/s"
    );
    assert_eq!(open["unsent"], 0);
    assert_eq!(record["total"]["error_rate"], 0.0);
}

/// The server stalls for the last 200 ms of every second. In the open model
/// 20% of requests are planned inside a stall and wait for its end, so from
/// the plan p90 is about 100 ms and p99 about 190 ms. With only 4
/// connections, the requests sent during a stall are a handful per second:
/// the service time (uncorrected) and the closed model hide the stall.
#[test]
fn a_periodic_stall_shows_in_the_corrected_percentiles_only() {
    let _turn = timing_lock();
    let server = TestServer::start(None);
    let stall = scenario(&[("/stall", "")]);
    let (_, open) = run(
        &server,
        &stall,
        &[
            "--rate",
            "1000",
            "--max-inflight",
            "4",
            "--duration",
            "6s",
            "--warmup",
            "1s",
        ],
    );
    let corrected = &open["total"]["latency"];
    let uncorrected = &open["total"]["uncorrected"];
    let p90 = us(&corrected["p90_us"]) / 1000.0;
    let p99 = us(&corrected["p99_us"]) / 1000.0;
    assert!(
        (70.0..=135.0).contains(&p90),
        "corrected p90 {p90} ms, expected ~100 ms"
    );
    assert!(
        (160.0..=215.0).contains(&p99),
        "corrected p99 {p99} ms, expected ~190 ms"
    );
    let hidden = us(&uncorrected["p99_us"]) / 1000.0;
    assert!(
        hidden < 40.0,
        "uncorrected p99 {hidden} ms should hide the stall"
    );
    assert!(
        us(&uncorrected["max_us"]) / 1000.0 > 150.0,
        "the stalled requests themselves are slow"
    );

    let (_, closed) = run(
        &server,
        &stall,
        &["--connections", "4", "--duration", "4s", "--warmup", "1s"],
    );
    let closed_p99 = us(&closed["total"]["latency"]["p99_us"]) / 1000.0;
    assert!(
        closed_p99 < 40.0,
        "closed-model p99 {closed_p99} ms should hide the stall"
    );
}

#[test]
fn every_error_kind_is_counted_where_it_happens() {
    // New connections are refused after 1.5 s, so re-connecting fails.
    let server = TestServer::start(Some(Duration::from_millis(1500)));
    let steps = scenario(&[
        ("/fail", ""),
        ("/json", "check = { status = \"good\" }"),
        ("/slow", ""),
        ("/reset", ""),
        ("/garbage", ""),
    ]);
    let (output, record) = run(
        &server,
        &steps,
        &[
            "--connections",
            "10",
            "--duration",
            "3s",
            "--warmup",
            "0s",
            "--timeout",
            "300ms",
        ],
    );
    assert!(
        output.status.success(),
        "errors alone do not fail a run without thresholds"
    );
    let errors = &record["total"]["errors"];
    for kind in [
        "status",
        "check",
        "timeout",
        "reset",
        "malformed",
        "connect",
    ] {
        assert!(
            errors[kind].as_u64().unwrap_or(0) > 0,
            "no {kind} errors counted: {errors}"
        );
    }
    let endpoint = |name: &str| {
        record["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["figures"]
            .clone()
    };
    assert!(endpoint("/fail")["statuses"]["500"].as_u64().unwrap() > 0);
    assert!(endpoint("/json")["errors"]["check"].as_u64().unwrap() > 0);
    assert!(endpoint("/slow")["errors"]["timeout"].as_u64().unwrap() > 0);
    assert!(
        endpoint("/garbage")["errors"]["malformed"]
            .as_u64()
            .unwrap()
            > 0
    );
    let total_errors: u64 = errors
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let requests = record["total"]["requests"].as_u64().unwrap();
    assert!(
        (us(&record["total"]["error_rate"]) - total_errors as f64 / requests as f64).abs() < 1e-9
    );
}

#[test]
fn warm_up_requests_are_sent_but_not_counted() {
    let server = TestServer::start(None);
    let (_, record) = run(
        &server,
        &scenario(&[("/ok", "")]),
        &["--connections", "2", "--duration", "1s", "--warmup", "1s"],
    );
    let counted = record["total"]["requests"].as_u64().unwrap();
    let warmup = record["warmup_requests"].as_u64().unwrap();
    let in_flight = record["in_flight_at_end"].as_u64().unwrap();
    assert!(
        warmup > 100 && counted > 100,
        "warm-up {warmup}, counted {counted}"
    );
    // Plus the one `GET /health/db` loadgen sends to check the target first.
    assert_eq!(
        server.received.load(Ordering::Relaxed),
        counted + warmup + in_flight + 1
    );
    // The histograms hold exactly the counted responses.
    assert_eq!(
        record["total"]["responses"].as_u64().unwrap() + in_flight,
        counted + in_flight
    );
    let rps = us(&record["total"]["rps"]);
    assert!(
        (rps - counted as f64).abs() < 1.0,
        "1 s measured: rps {rps} = requests {counted}"
    );
}

#[test]
fn a_breached_threshold_exits_non_zero_and_says_which() {
    let server = TestServer::start(None);
    let ok = scenario(&[("/ok", "")]);
    let common = ["--connections", "2", "--duration", "1s", "--warmup", "0s"];
    let (output, record) = run(
        &server,
        &ok,
        &[
            &common[..],
            &["--threshold", "p99 < 1us", "--threshold", "error_rate < 1%"],
        ]
        .concat(),
    );
    assert_eq!(output.status.code(), Some(99));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("threshold FAIL: p99 < 1us"), "{stdout}");
    assert!(
        stdout.contains("threshold pass: error_rate < 1%"),
        "{stdout}"
    );
    assert_eq!(record["thresholds"][0]["pass"], false);
    let (passing, _) = run(
        &server,
        &ok,
        &[&common[..], &["--threshold", "p99 < 10s"]].concat(),
    );
    assert_eq!(passing.status.code(), Some(0));
}

#[test]
fn a_malformed_scenario_is_rejected_with_its_line_before_any_load() {
    let server = TestServer::start(None);
    let path = temp_path("bad.toml");
    std::fs::write(
        &path,
        "name = \"bad\"\n[dataset]\nusers = 1\nproducts = 1\nstock = 1\n[[flow]]\nname = \"f\"\n[[flow.step]]\nmethod = \"GET\"\npath = \"/ok/{{random(9, 1)}}\"\nexpect = 200\n",
    )
    .unwrap();
    let url = server.url();
    let output = loadgen(&[
        "run",
        "--scenario",
        path.to_str().unwrap(),
        "--target",
        &url,
        "--no-reset",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:10:", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("9 is greater than 1"), "{stderr}");
    assert_eq!(server.received.load(Ordering::Relaxed), 0, "load was sent");
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Histograms, not sample lists: memory after 60 s is within 10% of
/// memory after 10 s.
#[test]
fn memory_stays_flat_over_a_minute() {
    let _turn = timing_lock();
    let server = TestServer::start(None);
    let ok = scenario(&[("/ok", "")]);
    let url = server.url();
    let out = temp_path("long.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "run",
            "--scenario",
            ok.to_str().unwrap(),
            "--target",
            &url,
            "--no-reset",
            "--threads",
            "2",
        ])
        .args([
            "--rate",
            "3000",
            "--duration",
            "62s",
            "--warmup",
            "0s",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(10));
    let at_10s = resident_kib(child.id());
    std::thread::sleep(Duration::from_secs(50));
    let at_60s = resident_kib(child.id());
    assert!(child.wait().unwrap().success());
    let growth = (at_60s as f64 - at_10s as f64) / at_10s as f64;
    assert!(
        growth.abs() <= 0.10,
        "RSS {at_10s} KiB at 10 s, {at_60s} KiB at 60 s ({:+.1}%)",
        growth * 100.0
    );
    let record: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert!(record["total"]["requests"].as_u64().unwrap() > 150_000);
}
