//! `loadgen run` against the real servers: it starts each stack's binary
//! with each of its drivers, resets the database to the scenario's dataset
//! and runs the `smoke` scenario (orders, captures, checks, a threshold)
//! without errors.

mod support;

use serde_json::Value;

#[test]
fn smoke_runs_cleanly_against_every_stack_and_driver() {
    for stack in stacks::STACKS {
        let server = stack.name;
        for &driver in stack.drivers {
            let out = std::env::temp_dir().join(format!(
                "loadgen-smoke-{}-{server}-{}.json",
                std::process::id(),
                driver.replace('/', "-")
            ));
            let output = support::loadgen_command()
                .args([
                    "run",
                    "--scenario",
                    "smoke",
                    "--target",
                    server,
                    "--driver",
                    driver,
                ])
                .args([
                    "--duration",
                    "1s",
                    "--warmup",
                    "200ms",
                    "--threads",
                    "1",
                    "--out",
                ])
                .arg(&out)
                .output()
                .expect("loadgen runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{server}/{driver}: {}\n{stdout}",
                String::from_utf8_lossy(&output.stderr)
            );
            let record: Value =
                serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
            assert_eq!(record["target"]["server"], server);
            assert_eq!(record["target"]["driver"], driver);
            assert!(
                record["total"]["requests"].as_u64().unwrap() > 50,
                "{server}/{driver}: {stdout}"
            );
            assert_eq!(
                record["total"]["errors"],
                serde_json::json!({}),
                "{server}/{driver}: {stdout}"
            );
            assert!(record["server_usage"]["cpu_seconds"].as_f64().unwrap() > 0.0);
            // The machine's steal over the window is measured (a share).
            let steal = record["steal_percent"].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&steal), "{steal}");
            // Every step of every flow ran, captures feeding the next step.
            for endpoint in record["endpoints"].as_array().unwrap() {
                assert!(
                    endpoint["figures"]["requests"].as_u64().unwrap() > 0,
                    "{endpoint}"
                );
            }
        }
    }
}
