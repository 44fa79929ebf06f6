//! loadgen's numbers, checked against a small server with known behaviour:
//! rate accuracy, coordinated-omission correction under a periodic stall,
//! every error kind, warm-up exclusion, thresholds, scenario errors and
//! bounded memory. The real servers are exercised at the end.

mod support;

use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A test server: `/ok`, `/stall` (held while the server is in
/// the last 200 ms of each second since it started), `/fail` (500),
/// `/json` (`{"status":"bad"}`), `/slow` (2 s), `/reset` (closes without an
/// answer), `/garbage` (not HTTP), `/hangable` (never answered once `hang`
/// is set), `/echo` (keeps the request head in `heads`), `/queue` (served
/// [`QUEUE_SLOTS`] at a time, [`QUEUE_SERVICE`] each: a server of known
/// capacity, the rest wait their turn).
struct TestServer {
    address: std::net::SocketAddr,
    received: Arc<AtomicU64>,
    state: Arc<State>,
    runtime: tokio::runtime::Runtime,
}

struct State {
    hang: std::sync::atomic::AtomicBool,
    heads: std::sync::Mutex<Vec<String>>,
    queue: tokio::sync::Semaphore,
}

impl Default for State {
    fn default() -> State {
        State {
            hang: Default::default(),
            heads: Default::default(),
            queue: tokio::sync::Semaphore::new(QUEUE_SLOTS),
        }
    }
}

/// `/queue` serves this many requests at once, each for `QUEUE_SERVICE`:
/// at most 8 / 20 ms = 400 req/s, a little less as timers round up.
const QUEUE_SLOTS: usize = 8;
const QUEUE_SERVICE: Duration = Duration::from_millis(20);

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
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
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
                tokio::spawn(serve_connection(
                    stream,
                    started,
                    Arc::clone(&counter),
                    Arc::clone(&shared),
                ));
            }
        });
        TestServer {
            address,
            received,
            state,
            runtime,
        }
    }

    /// Stops at once, as a killed server does: connections drop, new ones are refused.
    fn kill(self) {
        self.runtime.shutdown_background();
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    started: Instant,
    received: Arc<AtomicU64>,
    state: Arc<State>,
) {
    let mut buffer = Vec::with_capacity(4096);
    loop {
        // Read one request head and skip its body.
        let (path, used) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(used)) = request.parse(&buffer) {
                let path = request.path.unwrap_or("/").to_string();
                let body: usize = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .unwrap_or(0);
                if buffer.len() >= used + body {
                    if path == "/echo" {
                        let head = String::from_utf8_lossy(&buffer[..used]).into_owned();
                        state.heads.lock().unwrap().push(head);
                    }
                    break (path, used + body);
                }
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
            "/queue" => {
                let _slot = state.queue.acquire().await.unwrap();
                tokio::time::sleep(QUEUE_SERVICE).await;
                (200, r#"{"status":"ok"}"#)
            }
            "/fail" => (500, r#"{"error":"boom"}"#),
            "/json" => (200, r#"{"status":"bad"}"#),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                (200, r#"{"status":"ok"}"#)
            }
            "/reset" => return,
            "/hangable" if state.hang.load(Ordering::Relaxed) => {
                std::future::pending::<()>().await;
                return;
            }
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
    support::loadgen_command()
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
    ];
    if !extra.contains(&"--threads") {
        args.extend(["--threads", "2"]);
    }
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

/// Requests went out when the plan said: the achieved rate alone cannot
/// show it (a pacer that sent everything 200 ms late would still send them
/// all). Half the sends must leave within 1 ms of their planned time and 99%
/// within 25 ms. A pacer on time keeps these bounds while the other tests of
/// this binary load both cores of a 2-core machine, where many single sends
/// can be over 1 ms late when only two connections carry 1,000 req/s, so a
/// bound on that share would fail on a busy machine, not on a bad pacer
/// (docs/testing.md has what CI measured); one systematically late does not.
fn assert_sent_on_time(record: &Value) {
    let open = &record["open_model"];
    assert!(us(&open["lateness_p50_us"]) <= 1000.0, "{open}");
    assert!(us(&open["lateness_p99_us"]) <= 25_000.0, "{open}");
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
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
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
    assert_sent_on_time(&record);
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
    let uncorrected = &open["total"]["service_time"];
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
    // Requests in flight at the end were waited for, and counted.
    assert_eq!(server.received.load(Ordering::Relaxed), counted + warmup);
    assert!(in_flight <= 2, "{in_flight} in flight with 2 connections");
    assert_eq!(record["total"]["responses"].as_u64().unwrap(), counted);
    assert_eq!(record["total"]["errors"], serde_json::json!({}));
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

/// Starts loadgen against `server` in the background; `finish` collects
/// its exit status and run record.
fn spawn_run(
    server: &TestServer,
    scenario: &std::path::Path,
    extra: &[&str],
) -> (std::process::Child, PathBuf) {
    let out = temp_path("run.json");
    let child = support::loadgen_command()
        .args(["run", "--scenario", scenario.to_str().unwrap()])
        .args(["--target", &server.url(), "--threads", "2", "--out"])
        .arg(&out)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("loadgen runs");
    (child, out)
}

fn finish(child: std::process::Child, out: &std::path::Path) -> (Output, Value) {
    let output = child.wait_with_output().unwrap();
    let text = std::fs::read_to_string(out).unwrap_or_else(|_| {
        panic!(
            "no run record; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, serde_json::from_str(&text).unwrap())
}

/// The generator paused mid-run (SIGSTOP, SIGCONT 150 ms later, twice)
/// against a server that answers at once: requests planned in the pauses go
/// out late for the generator's own reasons, so the run is invalid (exit
/// 97, not the threshold's 99), the output and the record name the
/// generator, and the threshold, which its own delay would have failed, is
/// not judged.
#[test]
fn a_paused_generator_makes_the_run_invalid_not_the_server_slow() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let _turn = timing_lock();
    let server = TestServer::start(None);
    let (child, out) = spawn_run(
        &server,
        &scenario(&[("/ok", "")]),
        &[
            "--rate",
            "400",
            "--duration",
            "3s",
            "--warmup",
            "0s",
            "--threshold",
            "p99 < 20ms",
        ],
    );
    let pid = Pid::from_raw(child.id() as i32);
    // A second into the load, by the requests the server got.
    while server.received.load(Ordering::Relaxed) < 400 {
        std::thread::sleep(Duration::from_millis(2));
    }
    for _ in 0..2 {
        kill(pid, Signal::SIGSTOP).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        kill(pid, Signal::SIGCONT).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    let (output, record) = finish(child, &out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(97), "{stdout}");
    let validity = &record["validity"];
    assert_eq!(validity["valid"], false, "{validity}");
    let reason = validity["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("the generator fell behind"), "{reason}");
    assert!(
        stdout.contains("INVALID: the generator fell behind"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("threshold FAIL"),
        "judged anyway: {stdout}"
    );
    assert_eq!(record["thresholds"], serde_json::json!([]));
    // The late sends were the generator's, not the server's.
    let open = &record["open_model"];
    assert!(open["own_late_sends"].as_u64().unwrap() >= 40, "{open}");
}

/// A server that stops answering for the last ~2 s of a 5 s open-model run:
/// the unanswered requests are errors and sit in the percentiles, so a p99
/// threshold fails, and the timeline shows the stall.
#[test]
fn a_stall_at_the_end_fails_a_latency_threshold() {
    let _turn = timing_lock();
    let server = TestServer::start(None);
    let (child, out) = spawn_run(
        &server,
        &scenario(&[("/hangable", "")]),
        &[
            "--rate",
            "400",
            "--duration",
            "5s",
            "--warmup",
            "0s",
            "--timeout",
            "10s",
            "--threshold",
            "p99 < 50ms",
        ],
    );
    // The stall starts after 3 s of load, counted by the requests the server
    // got (400 a second), not by a clock that loadgen's start-up would shift
    // on a slow machine.
    while server.received.load(Ordering::Relaxed) < 1200 {
        std::thread::sleep(Duration::from_millis(2));
    }
    server.state.hang.store(true, Ordering::Relaxed);
    let (output, record) = finish(child, &out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(99), "{stdout}");
    assert!(stdout.contains("threshold FAIL: p99 < 50ms"), "{stdout}");
    let total = &record["total"];
    let requests = total["requests"].as_u64().unwrap();
    assert!(
        (1960..=2040).contains(&requests),
        "{requests} planned in 5 s at 400/s"
    );
    let unanswered = total["errors"]["unanswered"].as_u64().unwrap();
    let share = unanswered as f64 / requests as f64;
    assert!(
        (0.25..=0.5).contains(&share),
        "{unanswered} of {requests} unanswered"
    );
    assert!((us(&total["error_rate"]) - share).abs() < 1e-9);
    // Every planned request is in the percentiles: p99 is at least the
    // time from a stalled request's plan to the end (plus the grace).
    assert!(
        total["latency"]["p99_us"].as_u64().unwrap() > 1_500_000,
        "{}",
        total["latency"]
    );
    assert!(
        us(&total["rps"]) < 0.75 * 400.0,
        "rps counts successes only"
    );
    // The timeline shows answers stopping, not an average.
    let timeline = record["timeline"].as_array().unwrap();
    let ok = |i: usize| timeline[i]["successes"].as_u64().unwrap();
    assert!(ok(1) > 350, "{:?}", timeline[1]);
    assert_eq!(ok(4), 0, "{:?}", timeline[4]);
    assert!(timeline[4]["in_flight"].as_u64().unwrap() > 100);
}

/// A server killed halfway through a closed-model run: `rps` is the rate of
/// successful answers; the failed connection attempts are in `attempted_rps`.
#[test]
fn a_killed_servers_rps_is_its_answered_rate() {
    let _turn = timing_lock();
    let server = TestServer::start(None);
    let (child, out) = spawn_run(
        &server,
        &scenario(&[("/ok", "")]),
        &["--connections", "4", "--duration", "3s", "--warmup", "0s"],
    );
    std::thread::sleep(Duration::from_millis(1800));
    server.kill();
    let (output, record) = finish(child, &out);
    assert!(output.status.success(), "{}", support::explain(&output));
    let total = &record["total"];
    let seconds = us(&record["measured_seconds"]);
    let successes = total["successes"].as_u64().unwrap();
    let responses = total["responses"].as_u64().unwrap();
    assert_eq!(successes, responses, "{total}");
    assert!((us(&total["rps"]) - successes as f64 / seconds).abs() < 1e-6);
    let requests = total["requests"].as_u64().unwrap();
    assert!(requests > responses, "failed attempts are requests too");
    assert!(us(&total["attempted_rps"]) > us(&total["rps"]));
    assert!(total["errors"]["connect"].as_u64().unwrap() > 0, "{total}");
}

/// A timed-out request is a timeout error whose latency runs from its
/// planned time to the timeout, not a hole in the percentiles.
#[test]
fn a_timeout_carries_its_latency() {
    let _turn = timing_lock();
    let server = TestServer::start(None);
    let (_, record) = run(
        &server,
        &scenario(&[("/slow", "")]),
        &[
            "--rate",
            "20",
            "--duration",
            "2s",
            "--warmup",
            "0s",
            "--timeout",
            "300ms",
        ],
    );
    let total = &record["total"];
    let requests = total["requests"].as_u64().unwrap();
    assert!((38..=42).contains(&requests), "{requests}");
    assert_eq!(
        total["errors"]["timeout"].as_u64(),
        Some(requests),
        "{total}"
    );
    let latency = &total["latency"];
    let p50 = us(&latency["p50_us"]) / 1000.0;
    assert!(
        (299.0..=340.0).contains(&p50),
        "p50 {p50} ms for a 300 ms timeout"
    );
    assert!(us(&latency["max_us"]) / 1000.0 < 400.0, "{latency}");
}

/// Threads never outnumber connections: with 4 threads asked for and 2
/// connections, 2 threads each pace half the rate, and the rate holds.
#[test]
fn rate_shares_follow_connections() {
    let _turn = timing_lock();
    let server = TestServer::start(None);
    let (output, record) = run(
        &server,
        &scenario(&[("/ok", "")]),
        &[
            "--rate",
            "1000",
            "--max-inflight",
            "2",
            "--threads",
            "4",
            "--duration",
            "2s",
            "--warmup",
            "0s",
        ],
    );
    assert!(output.status.success(), "{}", support::explain(&output));
    assert_eq!(record["config"]["threads"], 2);
    let achieved = us(&record["open_model"]["achieved_rate"]);
    assert!(
        (achieved - 1000.0).abs() <= 10.0,
        "achieved {achieved} of 1000 req/s"
    );
    assert_sent_on_time(&record);
    // With two connections, a stall of a few milliseconds on a shared
    // machine can leave the last planned requests unsent: they count, as
    // unanswered, and nothing else may fail.
    let errors = record["total"]["errors"].as_object().unwrap();
    assert!(errors.keys().all(|kind| kind == "unanswered"), "{errors:?}");
    assert!(us(&record["total"]["error_rate"]) < 0.01, "{errors:?}");
}

#[test]
fn stages_with_a_rate_are_refused_with_a_reason() {
    let server = TestServer::start(None);
    let output = loadgen(&[
        "run",
        "--scenario",
        scenario(&[("/ok", "")]).to_str().unwrap(),
        "--target",
        &server.url(),
        "--rate",
        "100",
        "--stages",
        "1s:10",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--stages replaces --rate"), "{stderr}");
    assert_eq!(server.received.load(Ordering::Relaxed), 0);
    // --model open makes the stages rates, and the record says so.
    let (output, record) = run(
        &server,
        &scenario(&[("/ok", "")]),
        &[
            "--model",
            "open",
            "--stages",
            "1s:100,1s:100",
            "--warmup",
            "0s",
        ],
    );
    assert!(output.status.success(), "{}", support::explain(&output));
    assert_eq!(record["config"]["model"], "open");
    assert_eq!(record["config"]["stage_unit"], "req/s");
    assert_eq!(record["config"]["rate"], Value::Null);
    let requests = record["total"]["requests"].as_u64().unwrap();
    assert!(
        (148..=152).contains(&requests),
        "{requests}: 50 then 100 in two ramps"
    );
}

/// What goes on the wire: `Host` is the target's authority (and a step's own
/// `Host` or `Content-Type` replaces the default), a POST without a body
/// says `Content-Length: 0`, and `localhost` works when the server listens
/// on 127.0.0.1 only (every resolved address is tried).
#[test]
fn requests_carry_the_right_headers() {
    let server = TestServer::start(None);
    let path = temp_path("headers.toml");
    std::fs::write(
        &path,
        r#"name = "headers"
[dataset]
users = 1
products = 1
stock = 1
[[flow]]
name = "plain"
[[flow.step]]
method = "POST"
path = "/echo"
expect = 200
[[flow.step]]
name = "own headers"
method = "POST"
path = "/echo"
body = "a=1"
headers = { host = "example.test", "content-type" = "application/x-www-form-urlencoded" }
expect = 200
"#,
    )
    .unwrap();
    let port = server.address.port();
    let url = format!("http://localhost:{port}");
    let out = temp_path("headers.json");
    let output = loadgen(&[
        "run",
        "--scenario",
        path.to_str().unwrap(),
        "--target",
        &url,
        "--connections",
        "1",
        "--threads",
        "1",
        "--duration",
        "300ms",
        "--warmup",
        "0s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let heads = server.state.heads.lock().unwrap().clone();
    let plain = heads
        .iter()
        .find(|h| !h.contains("example.test"))
        .expect("a plain POST");
    let lower = plain.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("host: localhost:{port}\r\n")),
        "{plain}"
    );
    assert!(lower.contains("content-length: 0\r\n"), "{plain}");
    let own = heads
        .iter()
        .find(|h| h.contains("example.test"))
        .expect("a POST with its own headers");
    let lower = own.to_ascii_lowercase();
    assert_eq!(lower.matches("host:").count(), 1, "{own}");
    assert_eq!(lower.matches("content-type:").count(), 1, "{own}");
    assert!(
        lower.contains("content-type: application/x-www-form-urlencoded"),
        "{own}"
    );
    assert!(lower.contains("content-length: 3\r\n"), "{own}");
}

/// A sweep against `/queue`, whose capacity is known (8 slots of 20 ms: 400
/// req/s, a little less as sleeps run long): a step at 70% of it is
/// steady, at about the service time; one at 115% queues within the step
/// and is marked unsustainable; the record keeps every step's run, and the
/// report draws the unsustainable step's marks hollow.
#[test]
fn a_sweep_marks_the_steps_a_server_cannot_carry() {
    let _timing = timing_lock();
    let server = TestServer::start(None);
    let scenario = scenario(&[("/queue", "")]);
    let out = temp_path("sweep.json");
    let url = server.url();
    let output = loadgen(&[
        "sweep",
        "--scenario",
        scenario.to_str().unwrap(),
        "--target",
        &url,
        "--rates",
        "280,460",
        "--step",
        "6s",
        "--warmup",
        "500ms",
        "--threads",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::explain(&output)
    );
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(record["schema"], "stackbench.sweep/1");
    let steps = record["steps"].as_array().unwrap();
    let offered: Vec<f64> = steps.iter().map(|s| us(&s["offered_rps"])).collect();
    assert_eq!(offered, [280.0, 460.0]);
    let service = QUEUE_SERVICE.as_micros() as f64;
    for step in &steps[..1] {
        assert_eq!(
            step["stationary"], true,
            "{}\n{stdout}",
            step["stationarity"]
        );
        let p50 = us(&step["latency"]["p50_us"]);
        assert!(
            (service..1.5 * service).contains(&p50),
            "p50 {p50} µs\n{stdout}"
        );
        assert!(step["run"]["timeline"].as_array().unwrap().len() >= 4);
    }
    for step in &steps[1..] {
        assert_eq!(
            step["stationary"], false,
            "{}\n{stdout}",
            step["stationarity"]
        );
        let reasons = step["stationarity"]["reasons"].to_string();
        assert!(reasons.contains("the queue grew"), "{reasons}");
    }
    assert!(stdout.contains("UNSUSTAINABLE"), "{stdout}");
    let report = std::fs::read_to_string(out.with_extension("html")).unwrap();
    assert!(report.contains("<svg") && report.contains("latency against offered load"));
    // A mark per percentile and step: the steady step's filled, the
    // unsustainable one's hollow.
    let marks: Vec<&str> = (report.split("<circle").skip(1))
        .filter(|mark| mark.contains(r#"r="5""#))
        .collect();
    let hollow = marks
        .iter()
        .filter(|m| m.contains(r#"fill="none""#))
        .count();
    assert_eq!((marks.len(), hollow), (8, 4), "{marks:?}");
}

/// Runs `loadgen capacity` against `path` with `extra` flags; returns its
/// output and record.
fn capacity(path: &str, extra: &[&str]) -> (Output, Value) {
    let server = TestServer::start(None);
    let scenario = scenario(&[(path, "")]);
    let out = temp_path("capacity.json");
    let url = server.url();
    let mut args = vec![
        "capacity",
        "--scenario",
        scenario.to_str().unwrap(),
        "--target",
        &url,
    ];
    args.extend([
        "--step",
        "3s",
        "--warmup",
        "300ms",
        "--drain",
        "300ms",
        "--threads",
        "2",
    ]);
    args.extend(["--confirm-steps", "1", "--out", out.to_str().unwrap()]);
    args.extend(extra);
    let output = loadgen(&args);
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|_| panic!("no record: {}", support::explain(&output)));
    (output, serde_json::from_str(&text).unwrap())
}

/// The capacity search brackets `/queue`'s capacity at an SLO its service
/// time meets: the rate that held is not above the capacity, nor the rate
/// that failed below it, beyond the resolution (20% here, so that the test
/// takes few steps; the search's precision is unit-tested). The capacity
/// is 8 slots over the service time the first step measured.
#[test]
fn capacity_brackets_a_known_capacity_within_the_resolution() {
    let _timing = timing_lock();
    let (output, record) = capacity(
        "/queue",
        &[
            "--slo",
            "p99 < 100ms",
            "--start-rps",
            "300",
            "--resolution",
            "20%",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::explain(&output)
    );
    assert_eq!(record["schema"], "stackbench.capacity/2");
    assert_eq!(record["outcome"], "found");
    let probes = record["probes"].as_array().unwrap();
    let first = &probes[0]["steps"][0]["step"];
    let capacity = QUEUE_SLOTS as f64 * 1e6 / us(&first["latency"]["p50_us"]);
    let (low, high) = (
        us(&record["capacity"]["low_rps"]),
        us(&record["capacity"]["high_rps"]),
    );
    assert!(high / low <= 1.2 + 1e-9, "{low} {high}\n{stdout}");
    assert!(
        low <= 1.2 * capacity && high >= capacity / 1.2,
        "{low} {capacity} {high}\n{stdout}"
    );
    // The last probe confirms the rate that held; every probe is recorded
    // with its steps.
    let last = probes.last().unwrap();
    assert_eq!(
        (last["purpose"].as_str(), us(&last["rate_rps"])),
        (Some("confirm"), low)
    );
    assert!(stdout.contains("capacity at p99 < 100ms:"), "{stdout}");
}

/// Against an SLO the server's service time cannot meet, the search says
/// there is no capacity and exits 99; against a server that fails every
/// request, it blames the errors (94); and one that holds the SLO up to
/// --max-rps has its capacity above that (98).
#[test]
fn capacity_says_why_when_it_finds_none() {
    let _timing = timing_lock();
    let lowest = ["--start-rps", "80", "--min-rps", "80"];
    let (output, record) = capacity("/queue", &[&["--slo", "p50 < 5ms"][..], &lowest].concat());
    assert_eq!(
        output.status.code(),
        Some(99),
        "{}",
        support::explain(&output)
    );
    assert_eq!(record["outcome"], "never_held");
    assert!(record["capacity"]["low_rps"].is_null());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("no capacity: p50 < 5ms failed down to 80.0 req/s"),
        "{stdout}"
    );

    let (output, record) = capacity("/fail", &[&["--slo", "p99 < 100ms"][..], &lowest].concat());
    assert_eq!(
        output.status.code(),
        Some(94),
        "{}",
        support::explain(&output)
    );
    assert_eq!(record["outcome"], "server_errors");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("no capacity: the server's errors broke the limit down to 80.0 req/s"),
        "{stdout}"
    );

    let (output, record) = capacity(
        "/queue",
        &[
            "--slo",
            "p99 < 100ms",
            "--start-rps",
            "50",
            "--max-rps",
            "50",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(98),
        "{}",
        support::explain(&output)
    );
    assert_eq!(record["outcome"], "above_max");
    assert_eq!(us(&record["capacity"]["low_rps"]), 50.0);
}
