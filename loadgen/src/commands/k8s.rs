//! `loadgen k8s render`: the Kubernetes manifests of a run split across
//! generators, on standard output, for `kubectl apply -f -`.
//!
//! There is no coordinator: an Indexed Job runs the shards, each pod told
//! its index by Kubernetes (JOB_COMPLETION_INDEX) and the shared start by
//! the manifest, and `loadgen merge` reads their records back from the
//! pods' logs. The Job starts every pod at once (parallelism = completions)
//! and never retries one (backoffLimit 0: a retried shard would run late),
//! and puts at most one on a node, so that generators do not share cores.
//! The documents are JSON, which kubectl reads as it reads YAML: no YAML
//! writer is needed, and what is printed is what the API receives.

use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Timelike, Utc};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::commands::load::LoadArgs;
use crate::commands::run::{self, parse_start_at};
use crate::measure::record::RunConfig;
use crate::runner;
use crate::scenario::{self, Scenario, Shard};

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Print the manifests of one run split across generator pods: a
    /// ConfigMap with the scenario, and an Indexed Job of --shards pods,
    /// one per node, that start together at the same instant. Apply them at
    /// once (`loadgen k8s render ... | kubectl apply -f -`); when the Job is
    /// complete, `kubectl logs -l job-name=NAME --tail=-1 | loadgen merge -`
    /// makes their records one run and judges its thresholds.
    Render(Box<RenderArgs>),
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// The server under test as the pods reach it: http://HOST:PORT (its
    /// database reset beforehand, e.g. with `loadgen db reset`).
    #[arg(long, required_unless_present = "stack", conflicts_with = "stack")]
    pub target: Option<String>,
    /// Deploy the stack under test too, from --image, with PostgreSQL
    /// (postgres:16) seeded with the scenario's dataset, and send the load
    /// to it: every pod of the run on a node of its own.
    #[arg(long, value_parser = crate::server::stack_names())]
    pub stack: Option<String>,
    /// The deployed stack's database driver [default: its first].
    #[arg(long, requires = "stack", value_parser = crate::server::driver_names())]
    pub driver: Option<String>,
    /// Generator pods that split the run, one per node.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: u32,
    /// Pass/fail rule, repeatable, judged by `loadgen merge` on the whole run.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// The image the pods run (built by the repository's Dockerfile).
    #[arg(long, default_value = "stackbench:latest")]
    pub image: String,
    /// Name of the Job and its ConfigMap [default: sb-<scenario>-<start>].
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace of both [default: kubectl's].
    #[arg(long)]
    pub namespace: Option<String>,
    /// When the shards start, RFC 3339 [default: --start-delay from now].
    #[arg(long, value_parser = parse_start_at)]
    pub start_at: Option<DateTime<Utc>>,
    /// How long after rendering the shards start: time for the pods to be
    /// scheduled, pull the image and connect. A pod not ready by then
    /// misses the start and fails the Job.
    #[arg(long, default_value = "2m", value_parser = scenario::parse_duration, conflicts_with = "start_at")]
    pub start_delay: Duration,
    /// A shard ready later than this after the start exits 95 rather than
    /// start late.
    #[arg(long, default_value = "50ms", value_parser = scenario::parse_duration)]
    pub max_start_lag: Duration,
    /// CPU of each pod (generators, and the stack and PostgreSQL when
    /// deployed), requested and limited alike (a Kubernetes quantity: 2, 1500m).
    #[arg(long, default_value = "2")]
    pub cpu: String,
    /// Memory of each pod, requested and limited alike.
    #[arg(long, default_value = "1Gi")]
    pub memory: String,
}

pub fn run(action: Action) -> anyhow::Result<u8> {
    match action {
        Action::Render(args) => {
            print!("{}", render(&args, Utc::now())?);
            Ok(0)
        }
    }
}

/// Where the scenario is mounted in the pods.
const SCENARIO_DIR: &str = "/etc/stackbench";

/// The manifests, as a YAML stream of JSON documents, for a render at `now`.
pub fn render(args: &RenderArgs, now: DateTime<Utc>) -> anyhow::Result<String> {
    let (scenario, load) = args.load.resolve()?;
    let (text, _) = scenario::find_text(&args.load.scenario)?;
    for index in 0..args.shards {
        let shard = Shard {
            index,
            count: args.shards,
        };
        run::check_shard(&scenario, &load, shard).context("--shards")?;
    }
    // On a whole second: the time in the pods' commands is read by people too.
    let start_at = args.start_at.unwrap_or_else(|| {
        let at = now + chrono::Duration::from_std(args.start_delay).expect("a delay in range");
        at.with_nanosecond(0).unwrap_or(at)
    });
    let objects = Objects {
        args,
        name: run_name(args.name.as_deref(), &scenario.name, start_at)?,
    };
    let file = format!("{}.toml", dns_label(&scenario.name));
    let mut documents = vec![json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": objects.metadata(&objects.name, "scenario"),
        "data": {file.clone(): text},
    })];
    let target = match (&args.target, &args.stack) {
        (Some(target), _) => {
            // Not resolved here: the name is the cluster's (a Service's).
            if target.strip_prefix("http://").is_none_or(str::is_empty) {
                bail!("--target must be the URL the pods reach the server at, http://HOST:PORT, not {target:?}");
            }
            target.clone()
        }
        (None, Some(stack)) => {
            let (url, deployed) = objects.stack(stack, &scenario)?;
            documents.extend(deployed);
            url
        }
        (None, None) => unreachable!("clap requires --target or --stack"),
    };
    let config = runner::config_of(
        &load,
        0,
        args.load.seed,
        false,
        args.load.tolerance.tolerance(),
    );
    let mut command = vec![
        "run".to_string(),
        "--scenario".into(),
        format!("{SCENARIO_DIR}/{file}"),
    ];
    command.extend(["--target".into(), target]);
    command.extend(load_flags(&config, args.load.threads));
    command.extend(["--shard-count".into(), args.shards.to_string()]);
    command.extend([
        "--start-at".into(),
        start_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    ]);
    command.extend([
        "--max-start-lag".into(),
        format!("{}s", args.max_start_lag.as_secs_f64()),
    ]);
    command.extend(["--results-dir".into(), "/tmp/results".into()]);
    for threshold in &args.thresholds {
        command.extend(["--threshold".into(), threshold.clone()]);
    }
    let until_start = (start_at - now).to_std().unwrap_or_default();
    documents.push(objects.job(
        command,
        until_start + load.total() + Duration::from_secs(180),
    ));
    Ok(stream(
        &scenario.name,
        &objects.name,
        args.shards,
        start_at,
        &documents,
    ))
}

/// The objects of one run, named after it.
struct Objects<'a> {
    args: &'a RenderArgs,
    name: String,
}

impl Objects<'_> {
    /// Every object of the run carries its name; `role` tells them apart.
    fn labels(&self, role: &str) -> Value {
        json!({"app.kubernetes.io/name": "stackbench", "stackbench.dev/run": self.name, "stackbench.dev/role": role})
    }

    fn metadata(&self, name: &str, role: &str) -> Value {
        let mut metadata = json!({"name": name, "labels": self.labels(role)});
        if let Some(namespace) = &self.args.namespace {
            metadata["namespace"] = json!(namespace);
        }
        metadata
    }

    /// A pod of `role` with `container`, on a node no other pod of the run
    /// is on (generators do not share cores with each other or with what
    /// they measure), its CPU and memory requested and limited alike.
    fn pod(&self, role: &str, mut container: Value, more: Value) -> Value {
        let resources = json!({"cpu": self.args.cpu, "memory": self.args.memory});
        container["resources"] = json!({"requests": resources, "limits": resources});
        let mut spec = json!({
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"stackbench.dev/run": self.name}},
                "topologyKey": "kubernetes.io/hostname",
            }]}},
            "containers": [container],
        });
        if let (Some(spec), Some(more)) = (spec.as_object_mut(), more.as_object()) {
            spec.extend(more.clone());
        }
        json!({"metadata": {"labels": self.labels(role)}, "spec": spec})
    }

    /// The Indexed Job of the shards, each running `command`.
    fn job(&self, command: Vec<String>, deadline: Duration) -> Value {
        let container = json!({
            "name": "loadgen",
            "image": self.args.image,
            "command": ["loadgen"],
            "args": command,
            "volumeMounts": [{"name": "scenario", "mountPath": SCENARIO_DIR, "readOnly": true}],
        });
        let pod = self.pod(
            "generator",
            container,
            json!({
                "restartPolicy": "Never",
                "volumes": [{"name": "scenario", "configMap": {"name": self.name}}],
            }),
        );
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": self.metadata(&self.name, "generator"),
            "spec": {
                "completionMode": "Indexed",
                "completions": self.args.shards,
                "parallelism": self.args.shards,
                "backoffLimit": 0,
                "activeDeadlineSeconds": deadline.as_secs(),
                // The pods' logs hold the records: kept a day after the end.
                "ttlSecondsAfterFinished": 86_400,
                "template": pod,
            },
        })
    }

    /// The stack `name` and PostgreSQL, each a workload with its Service:
    /// their objects, and the URL the generators reach the stack at.
    fn stack(&self, name: &str, scenario: &Scenario) -> anyhow::Result<(String, Vec<Value>)> {
        let stack = stacks::find(name).expect("clap checked the stack's name");
        let driver = stack
            .driver(self.args.driver.as_deref())
            .map_err(anyhow::Error::msg)?;
        let (database, server) = (
            format!("{}-postgres", self.name),
            format!("{}-stack", self.name),
        );
        let url = json!([{"name": "DATABASE_URL", "value": format!("postgres://stackbench:stackbench@{database}:5432/bench")}]);
        let dataset = scenario.dataset;
        let seed = format!(
            "loadgen db create && loadgen db reset --users {} --products {} --stock {}",
            dataset.users, dataset.products, dataset.stock
        );
        let postgres = self.pod("postgres", json!({
            "name": "postgres",
            "image": "postgres:16",
            // The managed cluster's durability trade-off (schema/src/cluster.rs).
            "args": ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"],
            "env": [{"name": "POSTGRES_USER", "value": "stackbench"}, {"name": "POSTGRES_PASSWORD", "value": "stackbench"}],
            "ports": [{"containerPort": 5432}],
            "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "stackbench"]}, "periodSeconds": 2},
        }), json!({}));
        let port = stack.port;
        let server_pod = self.pod("stack", json!({
            "name": "stack",
            "image": self.args.image,
            "command": [stack.binary_name(), "--port", port.to_string(), "--driver", driver],
            "env": url,
            "ports": [{"containerPort": port}],
            "readinessProbe": {"httpGet": {"path": "/health/db", "port": port}, "periodSeconds": 2},
        }), json!({
            // The database is created (once) and seeded before the server starts.
            "initContainers": [{"name": "seed", "image": self.args.image, "command": ["sh", "-c", seed], "env": url}],
        }));
        let workload = |kind: &str, name: &str, role: &str, pod: Value, port: u16| {
            let selector = json!({"matchLabels": {"stackbench.dev/run": self.name, "stackbench.dev/role": role}});
            let mut spec = json!({"replicas": 1, "selector": selector, "template": pod});
            if kind == "StatefulSet" {
                spec["serviceName"] = json!(name);
            }
            let api = json!({"apiVersion": "apps/v1", "kind": kind, "metadata": self.metadata(name, role), "spec": spec});
            let service = json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": self.metadata(name, role),
                "spec": {"selector": selector["matchLabels"], "ports": [{"port": port, "targetPort": port}]},
            });
            [api, service]
        };
        let mut objects = workload("StatefulSet", &database, "postgres", postgres, 5432).to_vec();
        objects.extend(workload("Deployment", &server, "stack", server_pod, port));
        Ok((format!("http://{server}:{port}"), objects))
    }
}

/// The documents, under comments that say how to run and merge them.
fn stream(
    scenario: &str,
    name: &str,
    shards: u32,
    start_at: DateTime<Utc>,
    documents: &[Value],
) -> String {
    let mut out = format!(
        "# stackbench: {scenario} split across {shards} generator pods, starting together at {}.\n\
         # Apply now: the pods must be ready by then.\n\
         # When the Job is complete:\n\
         #   kubectl logs -l job-name={name} --tail=-1 | loadgen merge -\n",
        start_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    for document in documents {
        out += "---\n";
        out += &serde_json::to_string_pretty(document).expect("JSON values serialize");
        out += "\n";
    }
    out
}

/// `run`'s flags for the load `config` describes (the whole run's: each
/// shard takes its part of it).
fn load_flags(config: &RunConfig, threads: Option<usize>) -> Vec<String> {
    let mut flags: Vec<String> = Vec::new();
    let mut flag = |name: &str, value: String| flags.extend([format!("--{name}"), value]);
    match (&config.stages, config.model.as_str()) {
        (Some(stages), model) => {
            flag("model", model.to_string());
            flag("stages", stages.clone());
        }
        (None, _) => {
            if let Some(connections) = config.connections {
                flag("connections", connections.to_string());
            }
            if let Some(rate) = config.rate {
                flag("rate", rate.to_string());
            }
            flag("duration", format!("{}s", config.duration_seconds));
        }
    }
    if let Some(max_inflight) = config.max_inflight {
        flag("max-inflight", max_inflight.to_string());
    }
    if let Some(arrivals) = config.arrivals {
        flag("arrivals", arrivals.name().to_string());
    }
    flag("warmup", format!("{}s", config.warmup_seconds));
    flag("timeout", format!("{}s", config.timeout_seconds));
    flag("seed", config.seed.to_string());
    if let Some(threads) = threads {
        flag("threads", threads.to_string());
    }
    let tolerance = config.generator_tolerance;
    flag("generator-late-by", format!("{}us", tolerance.late_by_us));
    flag(
        "generator-late-share",
        format!("{}", 100.0 * tolerance.share),
    );
    flags
}

/// The longest name of a run: its objects' names add `-postgres` to it,
/// and a Service's name is a DNS label of 63 characters at most.
const NAME_MAX: usize = 63 - "-postgres".len();

/// The run's name: `asked`, checked, or `sb-<scenario>-<HHMMSS of the start>`.
fn run_name(
    asked: Option<&str>,
    scenario: &str,
    start_at: DateTime<Utc>,
) -> anyhow::Result<String> {
    let Some(name) = asked else {
        let time = start_at.format("-%H%M%S").to_string();
        let stem: String = dns_label(&format!("sb-{scenario}"))
            .chars()
            .take(NAME_MAX - time.len())
            .collect();
        return Ok(format!("{}{time}", stem.trim_end_matches('-')));
    };
    let letters = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let starts = name.starts_with(|c: char| c.is_ascii_lowercase());
    if !starts || !name.chars().all(letters) || name.ends_with('-') || name.len() > NAME_MAX {
        bail!(
            "--name {name:?}: a run's name is lower-case letters, digits and '-', from a letter \
             to a letter or digit, at most {NAME_MAX} characters (Kubernetes names its objects after it)"
        );
    }
    Ok(name.to_string())
}

/// `text` in the letters of a DNS label: lower-case letters, digits and
/// hyphens, none at either end.
fn dns_label(text: &str) -> String {
    let label: String = (text.to_lowercase().chars())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.trim_matches('-').to_string()
}
