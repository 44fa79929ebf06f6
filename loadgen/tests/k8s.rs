//! The manifests `loadgen k8s render` prints: valid against Kubernetes' own
//! schemas offline (`kubernetes-validate --strict`, from PyPI), an Indexed
//! Job as the split run needs it, and a command that `loadgen run` accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{explain, loadgen_command, temp_dir};

mod support;

fn checkout() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Where kubernetes-validate is: `STACKBENCH_KUBERNETES_VALIDATE`, else the
/// virtual environment `scripts/python-tools.sh` makes under `target/`.
fn kubernetes_validate() -> PathBuf {
    let path = std::env::var_os("STACKBENCH_KUBERNETES_VALIDATE")
        .map(Into::into)
        .unwrap_or_else(|| checkout().join("target/python-tools/bin/kubernetes-validate"));
    assert!(
        path.exists(),
        "kubernetes-validate not found at {}: run `bash scripts/python-tools.sh` (the README's \
         test command does), or set STACKBENCH_KUBERNETES_VALIDATE",
        path.display()
    );
    path
}

/// The documents of a rendered stream (JSON documents after `---` lines).
fn documents(stream: &str) -> Vec<Value> {
    stream
        .split("\n---\n")
        .skip(1)
        .map(|document| serde_json::from_str(document).unwrap())
        .collect()
}

/// The server under test as a Service of the cluster.
const TARGET: [&str; 2] = ["--target", "http://axum.bench.svc:3001"];

fn render(shards: u32, args: &[&str]) -> (String, Vec<Value>) {
    let shards = shards.to_string();
    let output = loadgen_command()
        .args(["k8s", "render", "--scenario", "orders"])
        .args([
            "--shards",
            &shards,
            "--threshold",
            "p99 < 20ms",
            "--cpu",
            "1500m",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", explain(&output));
    let stream = String::from_utf8(output.stdout).unwrap();
    let documents = documents(&stream);
    (stream, documents)
}

/// For 1, 3 and 8 shards, open, closed and ramped, and with the stack and
/// PostgreSQL deployed too: the stream validates strictly (no field
/// Kubernetes does not know), the Job runs every shard at once, never
/// retries one, puts one per node with requests equal to limits, and the
/// ConfigMap carries the scenario's text as it is.
#[test]
fn rendered_manifests_validate_and_describe_the_split_run() {
    let dir = temp_dir("render");
    let cases: [(u32, &[&str]); 4] = [
        (1, &["--rate", "500", TARGET[0], TARGET[1]]),
        (
            3,
            &[
                "--connections",
                "12",
                "--duration",
                "20s",
                TARGET[0],
                TARGET[1],
            ],
        ),
        (
            8,
            &[
                "--model",
                "open",
                "--stages",
                "10s:1000,30s:4000",
                "--warmup",
                "10s",
                TARGET[0],
                TARGET[1],
            ],
        ),
        (
            2,
            &[
                "--rate", "500", "--stack", "actix", "--driver", "sqlx", "--name", "sb-test",
            ],
        ),
    ];
    for (shards, args) in cases {
        let (stream, documents) = render(shards, args);
        let file = dir.join(format!("shards-{shards}.yaml"));
        std::fs::write(&file, &stream).unwrap();
        let validated = Command::new(kubernetes_validate())
            .args(["--strict", "--kubernetes-version", "1.30.0"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            validated.status.success(),
            "{}\n{stream}",
            explain(&validated)
        );

        let kinds: Vec<&str> = documents
            .iter()
            .map(|d| d["kind"].as_str().unwrap())
            .collect();
        let deployed = args.contains(&"--stack");
        let expected: &[&str] = if deployed {
            &[
                "ConfigMap",
                "StatefulSet",
                "Service",
                "Deployment",
                "Service",
                "Job",
            ]
        } else {
            &["ConfigMap", "Job"]
        };
        assert_eq!(kinds, expected, "{stream}");
        let (config_map, job) = (&documents[0], documents.last().unwrap());
        assert_eq!(config_map["kind"], "ConfigMap");
        let shipped = std::fs::read_to_string(checkout().join("scenarios/orders.toml")).unwrap();
        assert_eq!(config_map["data"]["orders.toml"], shipped.as_str());
        let spec = &job["spec"];
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(spec["completions"], shards);
        assert_eq!(spec["parallelism"], shards);
        assert_eq!(spec["backoffLimit"], 0);
        let pod = &spec["template"]["spec"];
        let anti = &pod["affinity"]["podAntiAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"][0];
        assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
        let container = &pod["containers"][0];
        assert_eq!(
            container["resources"]["requests"],
            container["resources"]["limits"]
        );
        assert_eq!(container["resources"]["requests"]["cpu"], "1500m");
        let args: Vec<&str> = (container["args"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap())
            .collect();
        let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(after("--shard-count"), shards.to_string());
        assert_eq!(after("--threshold"), "p99 < 20ms");
        assert!(after("--start-at")
            .parse::<chrono::DateTime<chrono::Utc>>()
            .is_ok());
        if deployed {
            // The generators load the deployed stack, which runs on the
            // driver asked for, on the seeded database.
            assert_eq!(after("--target"), "http://sb-test-stack:3002");
            let stack = &documents[3]["spec"]["template"]["spec"];
            assert_eq!(stack["containers"][0]["command"][0], "stackbench-actix");
            assert_eq!(stack["containers"][0]["command"][4], "sqlx");
            let seed = stack["initContainers"][0]["command"][2].as_str().unwrap();
            assert!(seed.contains("loadgen db reset --users 10000"), "{seed}");
        }
    }
}

/// The pod's command is one `loadgen run` takes as it is: run here with
/// the scenario where the ConfigMap puts it, a local target and a start
/// that has passed, every flag parses and the load resolves, and the shard
/// stops with "missed the start" (95) before sending anything.
#[test]
fn the_rendered_command_is_one_loadgen_run_accepts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let local = format!("http://{}", listener.local_addr().unwrap());
    let dir = temp_dir("command");
    for load in [
        &["--rate", "500"][..],
        &[
            "--model",
            "closed",
            "--stages",
            "2s:8,2s:0",
            "--warmup",
            "1s",
        ][..],
    ] {
        let (_, documents) = render(
            2,
            &[load, &TARGET, &["--start-at", "2020-01-01T00:00:00Z"]].concat(),
        );
        let job = &documents[1];
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
        let scenario = dir.join("orders.toml");
        std::fs::write(
            &scenario,
            documents[0]["data"]["orders.toml"].as_str().unwrap(),
        )
        .unwrap();
        let args: Vec<String> = (container["args"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap().to_string())
            .map(|a| a.replace(&format!("{mount}/orders.toml"), scenario.to_str().unwrap()))
            .map(|a| {
                if a == "http://axum.bench.svc:3001" {
                    local.clone()
                } else {
                    a
                }
            })
            .collect();
        let output = loadgen_command()
            .args(&args)
            .env("JOB_COMPLETION_INDEX", "1")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(95),
            "{args:?}\n{}",
            explain(&output)
        );
        assert!(
            explain(&output).contains("shard 1/2 missed the start"),
            "{}",
            explain(&output)
        );
    }
}

/// A split that would leave a pod idle is refused before anything is
/// printed, with the same check `loadgen run --shard` makes: here 8 shards
/// of a closed run of 4 connections, so shards 4 to 7 would open none.
#[test]
fn a_split_with_an_idle_shard_is_refused() {
    let output = loadgen_command()
        .args(["k8s", "render", "--scenario", "orders", "--shards", "8"])
        .args(["--model", "closed", "--connections", "4"])
        .args(TARGET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    assert!(output.stdout.is_empty(), "{}", explain(&output));
    assert!(
        explain(&output).contains("would open none of the run's 4 connections"),
        "{}",
        explain(&output)
    );
}
