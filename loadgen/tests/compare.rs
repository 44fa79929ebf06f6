//! `loadgen compare` end to end on the real servers: the interleaving of
//! rounds, the JSON and HTML it leaves (rendered in headless Chromium), and
//! the database check failing a run whose stock was changed behind the
//! servers' back.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{read_json, stack_labels, temp};

mod support;

/// The comparisons share the benchmark database: one at a time.
static DATABASE: Mutex<()> = Mutex::new(());

fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("Chromium is needed to check the HTML report: scripts/setup.sh installs it (apt-get install chromium)")
}

fn headless(html: &Path, extra: &[&str]) -> std::process::Output {
    let profile = temp("chromium-profile");
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("Chromium runs")
}

/// Runs `loadgen compare ARGS --out OUT` and fails the test unless it
/// succeeds; returns the saved comparison and what it printed.
fn compare(args: &[&str], out: &Path) -> (Value, String) {
    let output = support::loadgen_command()
        .arg("compare")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "loadgen compare {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    (read_json(out), stdout)
}

/// A run of the ceiling that did real work and failed nothing.
fn assert_ceiling_ran(record: &Value, what: &str) {
    assert!(
        record["transactions"].as_u64().unwrap() > 20,
        "{what}: {record}"
    );
    assert_eq!(record["failed"], 0, "{what}: {record}");
}

/// All six stacks, in every language, in one comparison of the `orders`
/// scenario: each runs, answers without errors, and the database checks
/// after every run (stock, orders, totals) hold.
#[test]
fn every_stack_compares_on_orders() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let out = temp("every-stack.json");
    let names: Vec<&str> = stacks::STACKS.iter().map(|stack| stack.name).collect();
    let output = support::loadgen_command()
        .args([
            "compare",
            "--scenario",
            "orders",
            "--servers",
            &names.join(","),
        ])
        // The latency phase is the merged test's below: here, every stack
        // on the real scenario.
        .args(["--rounds", "1", "--duration", "1s", "--warmup", "500ms"])
        .arg("--no-latency-phase")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{stdout}");
    assert!(
        !stderr.contains("skipping"),
        "a stack was skipped: {stderr}"
    );
    let comparison = read_json(&out);
    assert_eq!(
        stack_labels(&comparison),
        [
            "hyper+tokio-postgres",
            "axum+tokio-postgres",
            "actix+tokio-postgres",
            "go-nethttp+lib/pq",
            "bun+bun-sql",
            "bun-hono+bun-sql",
        ]
    );
    for run in comparison["runs"].as_array().unwrap() {
        let label = &run["contender"];
        let total = &run["record"]["total"];
        assert!(total["requests"].as_u64().unwrap() > 20, "{label}: {total}");
        assert_eq!(total["errors"], serde_json::json!({}), "{label}: {total}");
    }
    // The ceiling ran the scenario's SQL too, and left the stock and
    // totals as consistent as the stacks must.
    for run in comparison["ceiling"]["runs"].as_array().unwrap() {
        assert_ceiling_ran(&run["record"], "orders");
    }
}

/// The ceiling ran in every round and phase, and each stack's
/// figures are read against it round by round, in the JSON, the table and
/// the report.
fn assert_read_against_the_ceiling(comparison: &Value, stdout: &str, html: &Path) {
    let ceiling = &comparison["ceiling"];
    let runs = ceiling["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let rate = comparison["latency_rate"].as_f64().unwrap();
    for run in runs {
        let record = &run["record"];
        assert_ceiling_ran(record, "users-read");
        assert_eq!(record["connections"], 20, "a server's pool: {record}");
        // One request per flow here: pgbench's transactions are requests.
        assert_eq!(record["transactions"], record["requests"], "{record}");
        let requests = record["requests"].as_f64().unwrap();
        assert!(requests > 100.0, "{record}");
        let latency = &record["latency"];
        assert!(latency["p50_us"].as_u64().unwrap() > 0, "{latency}");
        assert!(latency["p99_us"].as_u64() >= latency["p50_us"].as_u64());
        if run["phase"] == "latency" {
            assert_eq!(record["rate"].as_f64().unwrap(), rate);
            // At a planned rate (Poisson arrivals, as the stacks' are),
            // every planned transaction is run and logged, the late ones
            // failed: about as many as planned end in the window.
            let ended = requests + record["failed"].as_f64().unwrap();
            assert!((ended - rate).abs() < 0.2 * rate, "{ended} at {rate}");
            let command = record["command"].as_str().unwrap();
            for flag in ["--rate=", "--transactions=", "--latency-limit="] {
                assert!(command.contains(flag), "{flag}: {command}");
            }
        }
    }
    // Each round's ratio, then the median of the rounds.
    let stack = &comparison["summary"][0];
    let mut ratios: Vec<f64> = (0..2)
        .map(|i| {
            stack["rounds"][i]["figures"]["throughput"]
                .as_f64()
                .unwrap()
                / ceiling["rounds"][i]["figures"]["throughput"]
                    .as_f64()
                    .unwrap()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let over = &ceiling["contenders"][0];
    assert_eq!(over["contender"], "hyper+tokio-postgres");
    let fraction = over["ratios"]["throughput"]["median"].as_f64().unwrap();
    assert!(
        (fraction - (ratios[0] + ratios[1]) / 2.0).abs() < 1e-9,
        "{over}"
    );
    assert!(
        over["ratios"]["p99"]["median"].as_f64().unwrap() > 0.0,
        "{over}"
    );
    assert!(stdout.contains("ceiling: PostgreSQL alone"), "{stdout}");
    assert!(stdout.contains("throughput, of the database's"), "{stdout}");
    let html = std::fs::read_to_string(html).unwrap();
    let table = html
        .split("<table id=\"ceiling\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the table over the ceiling");
    assert!(table.contains("hyper+tokio-postgres"), "{table}");
    assert!(table.contains(&format!("{fraction:.2} (")), "{table}");
}

/// `--capacity`: two real stacks and PostgreSQL alone, two rounds; every
/// search finds a bracket within the resolution, each round's capacity is
/// the figure of that round, the second round starts where the first
/// ended, and each stack's capacity reads as a fraction of the database's.
#[test]
fn capacity_is_searched_per_stack_and_round_beside_the_ceiling() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let out = temp("compare-capacity.json");
    let (comparison, stdout) = compare(
        &[
            "--scenario",
            "orders",
            "--servers",
            "hyper,axum",
            "--capacity",
            "p99 < 50ms",
            "--resolution",
            "100%",
            "--rounds",
            "2",
            "--duration",
            "3s",
            "--warmup",
            "300ms",
            "--sweep",
            "0.5:1:0.5",
        ],
        &out,
    );
    let rounds_of = |searches: &Value, who: &str| -> Vec<(u64, f64)> {
        let mine = (searches.as_array().unwrap().iter()).filter(|s| s["contender"] == who);
        mine.map(|search| {
            assert_eq!(search["search"]["outcome"], "found", "{who}: {search}");
            let (low, high) = (
                search["search"]["capacity"]["low_rps"].as_f64().unwrap(),
                search["search"]["capacity"]["high_rps"].as_f64().unwrap(),
            );
            assert!(
                low < high && high <= 2.0 * low + 1e-9,
                "{who}: {low} {high}"
            );
            (search["round"].as_u64().unwrap(), low)
        })
        .collect()
    };
    let searches = &comparison["capacity"]["searches"];
    // A step is held back only when its plan was not all sent: Poisson
    // arrivals plan fewer requests than the rate now and then, and that is
    // no overload.
    let steps = (searches.as_array().unwrap().iter())
        .flat_map(|s| s["search"]["probes"].as_array().unwrap())
        .flat_map(|p| p["steps"].as_array().unwrap());
    for step in steps.filter(|s| s["why"].as_str().unwrap().contains("waited for a free")) {
        let unsent = step["step"]["run"]["open_model"]["unsent"]
            .as_u64()
            .unwrap();
        assert!(
            unsent > 0,
            "held back with its plan all sent: {}",
            step["why"]
        );
    }
    for summary in comparison["summary"].as_array().unwrap() {
        let who = summary["contender"]["label"].as_str().unwrap();
        let found = rounds_of(searches, who);
        assert_eq!(
            found.iter().map(|r| r.0).collect::<Vec<_>>(),
            [1, 2],
            "{who}"
        );
        // Each round's figure is that round's search.
        for (round, figures) in found.iter().zip(summary["rounds"].as_array().unwrap()) {
            assert_eq!(
                figures["figures"]["capacity"].as_f64(),
                Some(round.1),
                "{who}"
            );
            assert!(figures["figures"]["cpu_per_request"].as_f64().unwrap() > 0.0);
        }
        // The second round starts at the first round's capacity.
        let second = (searches.as_array().unwrap().iter())
            .find(|s| s["contender"] == who && s["round"] == 2)
            .unwrap();
        assert_eq!(
            second["search"]["probes"][0]["rate_rps"].as_f64(),
            Some(found[0].1)
        );
    }
    let ceiling = &comparison["ceiling"];
    let database = rounds_of(&ceiling["searches"], "ceiling: PostgreSQL alone");
    assert_eq!(database.len(), 2, "{ceiling}");
    for over in ceiling["contenders"].as_array().unwrap() {
        let ratio = over["ratios"]["capacity"]["median"].as_f64().unwrap();
        assert!(ratio > 0.0 && ratio.is_finite(), "{over}");
    }
    // After the rounds, each one's sweep: a step at half and at all of the
    // median capacity its rounds found.
    let sweeps = (comparison["capacity"]["sweeps"].as_array().unwrap().iter())
        .map(|sweep| (sweep, "step", "offered_rps"))
        .chain([(&ceiling["sweep"], "record", "rate")]);
    for (sweep, what, rate) in sweeps {
        let who = sweep["contender"].as_str().unwrap();
        let found = match who {
            "ceiling: PostgreSQL alone" => database.clone(),
            _ => rounds_of(searches, who),
        };
        let median = (found[0].1 + found[1].1) / 2.0;
        assert_eq!(sweep["capacity_rps"].as_f64(), Some(median), "{who}");
        let rates: Vec<f64> = (sweep["steps"].as_array().unwrap().iter())
            .map(|step| step[what][rate].as_f64().unwrap())
            .collect();
        assert_eq!(rates, [0.5 * median, median], "{who}");
    }
    assert_eq!(
        comparison["capacity"]["sweeps"].as_array().unwrap().len(),
        2
    );
    assert!(stdout.contains("req/s at p99 < 50ms"), "{stdout}");
    assert!(stdout.contains("capacity, of the database's"), "{stdout}");
    assert!(
        stdout.contains("p99 at fractions of each one's median capacity"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(out.with_extension("html")).unwrap();
    let title = "against offered load: each sweep a line";
    let chart = &html[html.find(title).expect(title)..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    // A line per sweep, two stacks and the database, joining its steps
    // (the grid and the SLO's dashes are thinner).
    let sweep_lines = (chart.split("<polyline").skip(1))
        .filter(|line| {
            line.split('>')
                .next()
                .unwrap()
                .contains("stroke-width=\"2\"")
        })
        .count();
    assert_eq!(sweep_lines, 3, "{chart}");
    // The record reads back: `loadgen report` draws the page again from it.
    std::fs::remove_file(out.with_extension("html")).unwrap();
    let report = support::loadgen_command()
        .arg("report")
        .arg(&out)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", support::explain(&report));
    assert!(out.with_extension("html").is_file());
}

/// The ceiling SQL of the scenarios the tests above leave out runs
/// under pgbench without a failed transaction and leaves the database
/// consistent (orders and users-read run above).
#[test]
fn every_ceiling_script_runs() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    for scenario in ["products-browse", "mixed"] {
        let out = temp(&format!("ceiling-{scenario}.json"));
        let args = ["--scenario", scenario, "--servers", "axum", "--rounds", "1"];
        let short = [
            "--no-latency-phase",
            "--duration",
            "1s",
            "--warmup",
            "300ms",
        ];
        let (comparison, _) = compare(&[&args[..], &short[..]].concat(), &out);
        assert_ceiling_ran(&comparison["ceiling"]["runs"][0]["record"], scenario);
    }
}

/// Two stacks and the ceiling (pgbench on the scenario's `ceiling`
/// SQL) over two rounds: the rounds rotate who goes first, each stack's
/// figures are read against the database's round by round, no winner is
/// named, and the report renders.
#[test]
fn rounds_interleave_beside_the_ceiling_and_the_report_renders() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let out = temp("compare.json");
    let (comparison, stdout) = compare(
        &[
            "--scenario",
            "users-read",
            "--servers",
            "hyper,axum",
            "--rounds",
            "2",
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--threads",
            "1",
        ],
        &out,
    );
    let order: Vec<&str> = comparison["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Each round rotates the order, so no participant always runs first.
    assert_eq!(
        order,
        [
            "round 1 throughput hyper+tokio-postgres",
            "round 1 throughput axum+tokio-postgres",
            "round 1 throughput ceiling: PostgreSQL alone",
            "round 2 throughput axum+tokio-postgres",
            "round 2 throughput ceiling: PostgreSQL alone",
            "round 2 throughput hyper+tokio-postgres",
            "round 1 latency hyper+tokio-postgres",
            "round 1 latency axum+tokio-postgres",
            "round 1 latency ceiling: PostgreSQL alone",
            "round 2 latency axum+tokio-postgres",
            "round 2 latency ceiling: PostgreSQL alone",
            "round 2 latency hyper+tokio-postgres",
        ]
    );
    assert_read_against_the_ceiling(&comparison, &stdout, &out.with_extension("html"));
    // Two rounds: the figures are printed with their spread, no winner is named.
    let verdicts = &comparison["verdicts"];
    assert!(
        verdicts["caveat"]
            .as_str()
            .unwrap()
            .contains("no winner is named"),
        "{verdicts}"
    );
    assert!(verdicts["figures"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["winner"] == false));
    // Per-round figures are kept, two per stack.
    for summary in comparison["summary"].as_array().unwrap() {
        assert_eq!(summary["rounds"].as_array().unwrap().len(), 2, "{summary}");
    }
    // The latency phase ran every stack at the same rate: 70% of the slowest median.
    let rate = comparison["latency_rate"].as_f64().unwrap();
    let slowest = comparison["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["spreads"]["throughput"]["median"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(
        (rate - 0.7 * slowest).abs() < 1e-6,
        "rate {rate}, slowest {slowest}"
    );
    for run in comparison["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["phase"] == "latency")
    {
        // The stacks' requests arrive as pgbench's transactions do.
        let config = &run["record"]["config"];
        assert_eq!(config["rate"].as_f64().unwrap(), rate);
        assert_eq!(config["arrivals"], "poisson", "{config}");
    }
    assert!(stdout.contains("median (min-max) over rounds"), "{stdout}");
    assert!(stdout.contains("no winner is named"), "{stdout}");
    assert!(stdout.contains("hyper+tokio-postgres") && stdout.contains("axum+tokio-postgres"));

    // The HTML report renders offline in a real browser, with its charts.
    let html = out.with_extension("html");
    let dom = headless(&html, &["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let (stacks, rounds) = (["hyper+tokio-postgres", "axum+tokio-postgres"], 2);
    // Three round charts (throughput, p99, CPU), the percentile curves, and
    // successes, p99 and errors over time for each of the two phases.
    assert_eq!(dom.matches("<svg").count(), 4 + 3 * 2, "ten charts");
    assert!(!dom.contains("<script"), "no script");
    // Each round a dot beside its stack's median, in each of the round charts.
    assert!(
        dom.matches("<circle").count() >= 3 * rounds * stacks.len(),
        "a dot per round per stack"
    );
    // Each timeline has a line per run (the axes are black), the median
    // round's bold: one per stack.
    let timelines: Vec<&str> = dom
        .split("<figure class=\"timeline\">")
        .skip(1)
        .map(|figure| figure.split("</figure>").next().unwrap())
        .collect();
    assert_eq!(timelines.len(), 3 * 2, "three timelines per phase");
    for timeline in &timelines {
        let lines: Vec<&str> = timeline
            .split("<polyline")
            .skip(1)
            .filter(|line| !line.contains("stroke=\"#000000\""))
            .collect();
        assert_eq!(lines.len(), rounds * stacks.len(), "a line per run");
        let bold = lines
            .iter()
            .filter(|line| line.contains("stroke-width=\"2\""))
            .count();
        assert_eq!(bold, stacks.len(), "a bold line per stack");
    }
    // The table per endpoint has a row per stack for each endpoint.
    let endpoints = dom
        .split("<table id=\"endpoints\">")
        .nth(1)
        .and_then(|table| table.split("</table>").next())
        .expect("the table per endpoint");
    let rows = endpoints.matches("<tr").count() - 1;
    assert!(rows >= stacks.len(), "{endpoints}");
    for stack in stacks {
        assert_eq!(
            endpoints.matches(stack).count() * stacks.len(),
            rows,
            "{endpoints}"
        );
    }
    let png = temp("report.png");
    let shot = headless(
        &html,
        &[
            "--window-size=1100,3400",
            &format!("--screenshot={}", png.display()),
        ],
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "screenshot of {} bytes",
        bytes.len()
    );

    // `loadgen report` rebuilds the same page from the JSON.
    let first = std::fs::read_to_string(&html).unwrap();
    std::fs::remove_file(&html).unwrap();
    let rebuilt = support::loadgen_command()
        .arg("report")
        .arg(&out)
        .output()
        .unwrap();
    assert!(rebuilt.status.success());
    assert_eq!(std::fs::read_to_string(&html).unwrap(), first);
}

/// One round cannot tell a difference from noise: the figures are printed,
/// no winner is named, and the output says why. The same stack listed
/// twice is labelled apart.
#[test]
fn a_single_round_names_no_winner() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let out = temp("single.json");
    let output = support::loadgen_command()
        .args(["compare", "--scenario", "smoke", "--servers", "axum,axum"])
        .args(["--rounds", "1", "--no-latency-phase", "--duration", "1s"])
        .args(["--warmup", "200ms", "--threads", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 round(s): no winner is named"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(" is highest") && !stdout.contains(" is lowest"),
        "{stdout}"
    );
    let comparison: Value = read_json(&out);
    let labels: Vec<&str> = comparison["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["contender"]["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["axum+tokio-postgres", "axum+tokio-postgres#2"]);
    assert!(comparison["verdicts"]["figures"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["winner"] == false));
}

#[test]
fn stock_changed_behind_the_servers_back_fails_the_comparison() {
    let _guard = DATABASE.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = runtime
        .block_on(schema::database_url(&schema::Cluster::default_location()))
        .unwrap();
    let client = runtime.block_on(schema::connect(&url)).unwrap();
    // No orders left from earlier runs: the first one seen is from this run, after its reset.
    runtime
        .block_on(client.batch_execute("TRUNCATE order_items, orders"))
        .unwrap();
    let child = support::loadgen_command()
        .args([
            "compare",
            "--scenario",
            "smoke",
            "--servers",
            "axum",
            "--rounds",
            "1",
            "--no-latency-phase",
        ])
        .args([
            "--duration",
            "4s",
            "--warmup",
            "0s",
            "--threads",
            "1",
            "--out",
        ])
        .arg(temp("tampered.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once orders flow (the reset is done), add stock to product 7 by hand.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let orders: i64 = runtime
            .block_on(client.query_one("SELECT count(*) FROM orders", &[]))
            .unwrap()
            .get(0);
        if orders > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no orders were placed");
        std::thread::sleep(Duration::from_millis(50));
    }
    runtime
        .block_on(client.execute(
            "UPDATE products SET stock_quantity = stock_quantity + 5 WHERE id = 7",
            &[],
        ))
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the comparison passed: {stderr}");
    assert!(stderr.contains("database is inconsistent"), "{stderr}");
    assert!(stderr.contains("product 7:"), "{stderr}");
    assert!(
        !stderr.contains("product 8:"),
        "only the changed product is named: {stderr}"
    );
}
