//! Scenario files (`scenarios/*.toml`): a dataset, a default load, and
//! weighted flows of requests. Everything is checked and compiled when the
//! file loads; a malformed file is rejected, with its line, before any load
//! is sent.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use sha2::Digest;
use toml::Spanned;

pub use crate::units::parse_duration;

use template::Template;
use threshold::Threshold;

pub mod template;
pub mod threshold;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    /// For people reading the file; not used by loadgen.
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    dataset: DatasetFile,
    #[serde(default)]
    load: LoadFile,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
    #[serde(rename = "flow")]
    flows: Vec<Spanned<FlowFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetFile {
    users: u32,
    products: u32,
    stock: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadFile {
    model: Option<Spanned<String>>,
    connections: Option<u32>,
    rate: Option<f64>,
    max_inflight: Option<u32>,
    arrivals: Option<Spanned<String>>,
    duration: Option<Spanned<String>>,
    warmup: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    stages: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    name: String,
    #[serde(default = "one")]
    weight: u32,
    #[serde(rename = "step")]
    steps: Vec<Spanned<StepFile>>,
    /// The flow's SQL as a pgbench script: what the servers send PostgreSQL
    /// for its steps, for `compare`'s ceiling row.
    ceiling: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    name: Option<String>,
    method: Spanned<String>,
    path: Spanned<String>,
    body: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    expect: u16,
    #[serde(default)]
    capture: BTreeMap<String, String>,
    #[serde(default)]
    check: BTreeMap<String, toml::Value>,
}

/// The dataset the database is reset to before a run.
pub use schema::Dataset;

/// Closed: each connection sends its next request when the last one
/// answers. Open: requests are sent at a planned rate, whatever the answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    Closed {
        connections: u32,
    },
    Open {
        rate: f64,
        max_inflight: u32,
        arrivals: Arrivals,
    },
}

/// How the open model spaces its requests in time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly, one every 1/rate seconds (wrk2's way): the least noise.
    #[default]
    Uniform,
    /// As a Poisson process, gaps drawn from an exponential distribution
    /// of mean 1/rate: how independent users arrive, and how `pgbench
    /// --rate` schedules transactions.
    Poisson,
}

impl Arrivals {
    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Uniform => "uniform",
            Arrivals::Poisson => "poisson",
        }
    }
}

/// A stage of the load: ramp linearly to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub model: Model,
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
    /// Replace the constant load when present: the timeline is the stages,
    /// and its first `warmup` is not counted.
    pub stages: Option<Vec<Stage>>,
}

impl Load {
    /// The whole timeline: warm-up included.
    pub fn total(&self) -> Duration {
        match &self.stages {
            Some(stages) => stages.iter().map(|s| s.duration).sum(),
            None => self.warmup + self.duration,
        }
    }

    /// The counted part of the timeline.
    pub fn measured(&self) -> Duration {
        self.total().saturating_sub(self.warmup)
    }
}

/// One request of a flow.
#[derive(Debug, Clone)]
pub struct Step {
    /// Index in [`Scenario::steps`], the key of its statistics.
    pub id: usize,
    pub label: String,
    pub method: String,
    pub path: Template,
    /// Extra header lines, pre-formatted as `Name: value\r\n`.
    pub headers: Vec<u8>,
    /// The step's own `Host` replaces the target's authority.
    pub sets_host: bool,
    /// The step's own `Content-Type` replaces `application/json`.
    pub sets_content_type: bool,
    pub body: Option<Template>,
    pub expect: u16,
    /// `(slot, top-level JSON field)` to capture from the response.
    pub captures: Vec<(usize, String)>,
    /// `(top-level JSON field, expected JSON value)`.
    pub checks: Vec<(String, serde_json::Value)>,
}

impl Step {
    /// Methods whose requests may carry a body: sent without one, they say
    /// `Content-Length: 0`, or some servers wait for a body that never comes.
    pub fn method_expects_body(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH")
    }

    /// Whether the response body must be read and parsed.
    pub fn needs_body(&self) -> bool {
        !self.captures.is_empty() || !self.checks.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub weight: u32,
    pub steps: Vec<Step>,
    /// Number of capture slots the flow's steps use.
    pub slots: usize,
    /// A pgbench script of the SQL the servers run for this flow's steps,
    /// each request after the first marked ([`CEILING_REQUEST_MARK`]).
    pub ceiling: Option<String>,
}

/// Begins the line of a flow's `ceiling` script where the SQL of one of its
/// requests after the first begins, followed by that step's label: pgbench
/// times a flow as one transaction, and the marks let the ceiling share
/// that time among the requests as the servers' is measured, per request.
pub const CEILING_REQUEST_MARK: &str = "-- request:";

/// A flow's ceiling script cut at its request marks: the first request's
/// part, then each marked one's, with the label each mark names.
pub fn ceiling_parts(script: &str) -> Vec<(Option<&str>, &str)> {
    let mut parts = Vec::new();
    let (mut label, mut from) = (None, 0);
    let mut at = 0;
    for line in script.split_inclusive('\n') {
        if let Some(next) = line.trim_start().strip_prefix(CEILING_REQUEST_MARK) {
            parts.push((label, &script[from..at]));
            (label, from) = (Some(next.trim()), at);
        }
        at += line.len();
    }
    parts.push((label, &script[from..]));
    parts
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// The file it was read from, or `embedded:<name>` for a shipped one.
    pub source: String,
    /// The SHA-256 of its text, in hex: two runs with the same hash ran the
    /// same scenario, wherever its file was (`loadgen merge` checks it).
    pub sha256: String,
    pub dataset: Dataset,
    pub load: Load,
    pub thresholds: Vec<Threshold>,
    pub flows: Vec<Flow>,
}

impl Scenario {
    /// Every step of every flow, in `id` order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.flows.iter().flat_map(|flow| flow.steps.iter())
    }

    /// Checks that every `partition(a, b)` of its templates leaves `shard`
    /// at least one value.
    pub fn check_shard(&self, shard: Shard) -> Result<(), String> {
        for step in self.steps() {
            let templates = std::iter::once(&step.path).chain(&step.body);
            for (low, high) in templates.flat_map(Template::partitions) {
                if shard.part(low, high).is_none() {
                    return Err(format!(
                        "step `{}`: partition({low}, {high}) has fewer values than the {} shards",
                        step.label, shard.count
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One of `count` generators that together send one run's load (`loadgen
/// run --shard I/N`). Shard `index` sends the open model's planned requests
/// j with j mod count = index, and opens the connections i with i mod count
/// = index: the shards together send exactly what one generator would, and
/// their sizes differ by one at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// A run that is not split.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Which of a run's connections `0..total` this shard opens.
    pub fn connections(self, total: usize) -> impl Iterator<Item = usize> {
        (self.index as usize..total).step_by(self.count as usize)
    }

    /// This shard's part of the integers `low..=high`: the range cut into
    /// `count` runs of consecutive values whose lengths differ by one at
    /// most, or `None` when its part is empty.
    pub fn part(self, low: i64, high: i64) -> Option<(i64, i64)> {
        let length = i128::from(high) - i128::from(low) + 1;
        let (index, count) = (i128::from(self.index), i128::from(self.count));
        let from = i128::from(low) + length * index / count;
        let to = i128::from(low) + length * (index + 1) / count - 1;
        // Both lie within low..=high, so they fit an i64.
        (from <= to).then_some((from as i64, to as i64))
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`: shard I (from 0) of N.
    fn from_str(text: &str) -> Result<Shard, String> {
        let wrong = || {
            format!("{text:?} is not a shard: write I/N, shard I (counted from 0) of N, e.g. 0/4")
        };
        let (index, count) = text.split_once('/').ok_or_else(wrong)?;
        let index: u32 = index.trim().parse().map_err(|_| wrong())?;
        let count: u32 = count.trim().parse().map_err(|_| wrong())?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the index must be below the count, from 0"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A scenario error with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

// `SHIPPED: &[(name, text)]`: every `scenarios/*.toml` of the checkout
// loadgen was built from, by file name (generated by build.rs).
include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// Finds and loads `name`: a path to a TOML file, else `scenarios/<name>.toml`
/// in the working directory, else the shipped scenario of that name, which is
/// embedded in the binary so that an installed loadgen needs no checkout.
pub fn find(name: &str) -> anyhow::Result<Scenario> {
    let (text, source) = find_text(name)?;
    Ok(parse(&text, &source)?)
}

/// The text of the scenario `name` names, as [`find`] looks for it, and
/// where it was found (a path, or `embedded:<name>`).
pub fn find_text(name: &str) -> anyhow::Result<(String, String)> {
    let stem = name.strip_suffix(".toml").unwrap_or(name);
    let local = Path::new("scenarios").join(format!("{stem}.toml"));
    for path in [Path::new(name), &local] {
        if path.is_file() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the scenario {}", path.display()))?;
            return Ok((text, path.display().to_string()));
        }
    }
    match SHIPPED.iter().find(|(shipped, _)| *shipped == stem) {
        Some((shipped, text)) => Ok((text.to_string(), format!("embedded:{shipped}"))),
        None => {
            let shipped: Vec<&str> = SHIPPED.iter().map(|(shipped, _)| *shipped).collect();
            anyhow::bail!(
                "no scenario `{name}`: not a file, not in ./scenarios, and not a shipped one ({})",
                shipped.join(", ")
            )
        }
    }
}

/// Parses a scenario's text; `source` (a path, or `embedded:<name>`) names it
/// in errors and in [`Scenario::source`].
pub fn parse(text: &str, source: &str) -> Result<Scenario, ScenarioError> {
    let parser = Parser { text, source };
    let file: File = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |span| span.start);
        parser.error(offset, e.message().to_string())
    })?;
    let load = parser.load(&file.load)?;
    let thresholds = (file.thresholds.iter())
        .map(|t| (t.get_ref().parse()).map_err(|m| parser.error(t.span().start, m)))
        .collect::<Result<_, _>>()?;
    if file.flows.is_empty() {
        return Err(parser.error(0, "a scenario needs at least one [[flow]]".into()));
    }
    let mut flows: Vec<Flow> = Vec::new();
    for flow in &file.flows {
        let first_id = flows.iter().map(|f| f.steps.len()).sum();
        flows.push(parser.flow(flow, first_id)?);
    }
    parser.check_ceilings(&file.flows, &flows)?;
    parser.check_labels(&flows)?;
    Ok(Scenario {
        name: file.name,
        source: source.to_string(),
        sha256: format!("{:x}", sha2::Sha256::digest(text.as_bytes())),
        dataset: Dataset {
            users: file.dataset.users,
            products: file.dataset.products,
            stock: file.dataset.stock,
        },
        load,
        thresholds,
        flows,
    })
}

/// A scenario file being read: its text, to tell the line of an error.
struct Parser<'a> {
    text: &'a str,
    source: &'a str,
}

impl Parser<'_> {
    fn error(&self, offset: usize, message: String) -> ScenarioError {
        ScenarioError {
            file: self.source.to_string(),
            line: self.text[..offset.min(self.text.len())]
                .matches('\n')
                .count()
                + 1,
            message,
        }
    }

    fn duration(
        &self,
        field: &Option<Spanned<String>>,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        match field {
            Some(value) => {
                parse_duration(value.get_ref()).map_err(|m| self.error(value.span().start, m))
            }
            None => Ok(default),
        }
    }

    fn arrivals(&self, field: &Option<Spanned<String>>) -> Result<Arrivals, ScenarioError> {
        let Some(value) = field else {
            return Ok(Arrivals::default());
        };
        <Arrivals as clap::ValueEnum>::from_str(value.get_ref(), false).map_err(|_| {
            let message = format!(
                "arrivals must be \"uniform\" or \"poisson\", not {:?}",
                value.get_ref()
            );
            self.error(value.span().start, message)
        })
    }

    /// The `[load]` table, with the defaults of what it leaves out.
    fn load(&self, load: &LoadFile) -> Result<Load, ScenarioError> {
        let model = match (load.model.as_ref()).map(|m| (m.get_ref().as_str(), m.span().start)) {
            None | Some(("closed", _)) => Model::Closed {
                connections: load.connections.unwrap_or(32),
            },
            Some(("open", at)) => Model::Open {
                rate: (load.rate).ok_or_else(|| {
                    self.error(at, "an open model needs `rate` (requests/s)".into())
                })?,
                max_inflight: load.max_inflight.unwrap_or(1024),
                arrivals: self.arrivals(&load.arrivals)?,
            },
            Some((other, at)) => {
                let message = format!("model must be \"closed\" or \"open\", not {other:?}");
                return Err(self.error(at, message));
            }
        };
        let stages = match &load.stages {
            Some(stages) => Some(
                parse_stages(stages.get_ref()).map_err(|m| self.error(stages.span().start, m))?,
            ),
            None => None,
        };
        let load = Load {
            model,
            duration: self.duration(&load.duration, Duration::from_secs(30))?,
            warmup: self.duration(&load.warmup, Duration::from_secs(5))?,
            timeout: self.duration(&load.timeout, Duration::from_secs(10))?,
            stages,
        };
        check_load(&load).map_err(|m| self.error(0, m))?;
        Ok(load)
    }

    /// A `[[flow]]` whose steps get ids from `first_id` on.
    fn flow(&self, flow: &Spanned<FlowFile>, first_id: usize) -> Result<Flow, ScenarioError> {
        let flow_at = flow.span().start;
        let flow = flow.get_ref();
        if flow.steps.is_empty() {
            let message = format!("flow {:?} has no [[flow.step]]", flow.name);
            return Err(self.error(flow_at, message));
        }
        if flow.weight == 0 {
            let message = format!("flow {:?}: weight must be at least 1", flow.name);
            return Err(self.error(flow_at, message));
        }
        // The values steps capture, by name: a later step's `{{name}}`.
        let mut slots: Vec<String> = Vec::new();
        let steps = (flow.steps.iter().enumerate())
            .map(|(n, step)| self.step(step, first_id + n, &mut slots))
            .collect::<Result<_, _>>()?;
        Ok(Flow {
            name: flow.name.clone(),
            weight: flow.weight,
            steps,
            slots: slots.len(),
            ceiling: flow.ceiling.clone(),
        })
    }

    /// A `[[flow.step]]`; its captures add to `slots`.
    fn step(
        &self,
        step: &Spanned<StepFile>,
        id: usize,
        slots: &mut Vec<String>,
    ) -> Result<Step, ScenarioError> {
        let step_at = step.span().start;
        let step = step.get_ref();
        let method = step.method.get_ref().to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
            let message = format!("unknown method {method:?}");
            return Err(self.error(step.method.span().start, message));
        }
        let slot = |name: &str| slots.iter().position(|s| s == name);
        let template = |text: &Spanned<String>| {
            Template::compile(text.get_ref(), &slot).map_err(|m| self.error(text.span().start, m))
        };
        let path = template(&step.path)?;
        if !step.path.get_ref().starts_with('/') {
            let message = "path must start with `/`".into();
            return Err(self.error(step.path.span().start, message));
        }
        let body = step.body.as_ref().map(template).transpose()?;
        if !(100..=599).contains(&step.expect) {
            let message = format!("expect {} is not an HTTP status", step.expect);
            return Err(self.error(step_at, message));
        }
        let headers = self.headers(step, step_at)?;
        let sets =
            |header: &str| (step.headers.keys()).any(|name| name.eq_ignore_ascii_case(header));
        let checks = (step.check.iter())
            .map(|(field, value)| {
                serde_json::to_value(value)
                    .map(|value| (field.clone(), value))
                    .map_err(|e| self.error(step_at, e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let mut captures = Vec::new();
        for (name, field) in &step.capture {
            let index = slots.iter().position(|s| s == name).unwrap_or_else(|| {
                slots.push(name.clone());
                slots.len() - 1
            });
            captures.push((index, field.clone()));
        }
        Ok(Step {
            id,
            label: (step.name.clone())
                .unwrap_or_else(|| format!("{method} {}", step.path.get_ref())),
            method,
            path,
            headers,
            sets_host: sets("host"),
            sets_content_type: sets("content-type"),
            body,
            expect: step.expect,
            captures,
            checks,
        })
    }

    /// A step's own headers, as the request's header lines.
    fn headers(&self, step: &StepFile, step_at: usize) -> Result<Vec<u8>, ScenarioError> {
        let mut headers = Vec::new();
        for (name, value) in &step.headers {
            if name.is_empty()
                || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                || value.contains(['\r', '\n'])
            {
                return Err(self.error(step_at, format!("invalid header {name:?}")));
            }
            if ["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|own| name.eq_ignore_ascii_case(own))
            {
                return Err(self.error(
                    step_at,
                    format!("header {name:?} is loadgen's to set (it frames the request and keeps the connection alive)"),
                ));
            }
            headers.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        Ok(headers)
    }

    /// The ceiling row drives the whole mix or nothing: with a flow left
    /// out, its share of the load would be missing from the ceiling.
    fn check_ceilings(
        &self,
        files: &[Spanned<FlowFile>],
        flows: &[Flow],
    ) -> Result<(), ScenarioError> {
        if flows.iter().all(|f| f.ceiling.is_none()) {
            return Ok(());
        }
        for (file, flow) in files.iter().zip(flows) {
            let Some(script) = &flow.ceiling else {
                return Err(self.error(
                    file.span().start,
                    format!(
                        "flow {:?} has no `ceiling` script but other flows do: give every flow one, or none",
                        flow.name
                    ),
                ));
            };
            let marked: Vec<&str> = (ceiling_parts(script).iter())
                .filter_map(|(label, _)| *label)
                .collect();
            let after_first: Vec<&str> = (flow.steps.iter().skip(1))
                .map(|step| step.label.as_str())
                .collect();
            if marked != after_first {
                let marks: Vec<String> = (after_first.iter())
                    .map(|label| format!("`{CEILING_REQUEST_MARK} {label}`"))
                    .collect();
                return Err(self.error(
                    file.span().start,
                    format!(
                        "flow {:?}'s `ceiling` marks the requests {marked:?}: a line {} must begin the SQL of \
                         each request after the first, in order, so the database's time can be shared among them",
                        flow.name,
                        if marks.is_empty() { "(none here)".to_string() } else { marks.join(", then ") }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every step's label names one step: the reports list steps by label.
    fn check_labels(&self, flows: &[Flow]) -> Result<(), ScenarioError> {
        let mut labels: Vec<&str> = (flows.iter())
            .flat_map(|f| f.steps.iter().map(|s| s.label.as_str()))
            .collect();
        labels.sort_unstable();
        match labels.windows(2).find(|w| w[0] == w[1]) {
            Some(pair) => Err(self.error(
                0,
                format!(
                    "two steps are named {:?}; give each step a distinct `name`",
                    pair[0]
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Checks a load once CLI overrides are applied too.
pub fn check_load(load: &Load) -> Result<(), String> {
    match load.model {
        Model::Closed { connections: 0 } => return Err("connections must be at least 1".into()),
        // With stages, the stages are the rate.
        Model::Open { rate, .. } if load.stages.is_none() && !(rate > 0.0 && rate.is_finite()) => {
            return Err("rate must be a positive number of requests/s".into())
        }
        Model::Open {
            max_inflight: 0, ..
        } => return Err("max_inflight must be at least 1".into()),
        _ => {}
    }
    if load.timeout.is_zero() {
        return Err("timeout must be positive".into());
    }
    if load.measured().is_zero() {
        return Err(
            "nothing would be measured: the duration (or the stages past the warm-up) is zero"
                .into(),
        );
    }
    Ok(())
}

/// `10s:1000,30s:1000,10s:0`: ramp to 1000 over 10 s, hold 30 s, ramp down over 10 s.
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, String> {
    let stages: Vec<Stage> =
        text.split(',')
            .map(|stage| {
                let (duration, target) = stage.trim().split_once(':').ok_or_else(|| {
                    format!("stage {stage:?} is not DURATION:TARGET, e.g. 10s:1000")
                })?;
                let target: f64 = target
                    .trim()
                    .parse()
                    .map_err(|_| format!("stage {stage:?}: {target:?} is not a number"))?;
                if !(target >= 0.0 && target.is_finite()) {
                    return Err(format!("stage {stage:?}: the target must be 0 or more"));
                }
                Ok(Stage {
                    duration: parse_duration(duration)?,
                    target,
                })
            })
            .collect::<Result<_, String>>()?;
    if stages.is_empty() {
        return Err("no stages".into());
    }
    Ok(stages)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
[dataset]
users = 10
products = 5
stock = 100

[load]
model = "open"
rate = 100
duration = "2s"
warmup = "500ms"

[[flow]]
name = "order"
[[flow.step]]
name = "place"
method = "POST"
path = "/orders"
body = '{"user_id": {{random(1, 10)}}, "items": {{items(1, 2, 1, 5, 1, 1)}}}'
expect = 201
capture = { order_id = "id" }
[[flow.step]]
method = "GET"
path = "/orders/{{order_id}}"
expect = 200
check = { status = "confirmed" }
"#;

    #[test]
    fn parses_a_scenario() {
        let scenario = parse(GOOD, "t.toml").unwrap();
        assert_eq!(
            scenario.load.model,
            Model::Open {
                rate: 100.0,
                max_inflight: 1024,
                arrivals: Arrivals::Uniform,
            }
        );
        assert_eq!(scenario.load.total(), Duration::from_millis(2500));
        let steps: Vec<&Step> = scenario.steps().collect();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].label, "GET /orders/{{order_id}}");
        assert!(steps[0].needs_body() && steps[1].needs_body());
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                GOOD.replace(
                    "path = \"/orders/{{order_id}}\"",
                    "path = \"/orders/{{order}}\"",
                ),
                25,
                "captured",
            ),
            (
                GOOD.replace("method = \"GET\"", "method = \"FETCH\""),
                24,
                "unknown method",
            ),
            (
                GOOD.replace("duration = \"2s\"", "duration = \"2 parsecs\""),
                11,
                "duration",
            ),
            (
                GOOD.replace("expect = 200", "expect = \"ok\""),
                26,
                "invalid type",
            ),
            (
                GOOD.replace("[[flow.step]]\nmethod", "[[flow.step]]\nmethd = 1\nmethod"),
                24,
                "unknown field",
            ),
        ];
        for (text, line, needle) in cases {
            let error = parse(&text, "t.toml").unwrap_err();
            assert_eq!(error.line, line, "{error}");
            assert!(error.to_string().contains(needle), "{error}");
            assert!(
                error.to_string().starts_with(&format!("t.toml:{line}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn a_ceiling_covers_every_flow_or_none() {
        let script = "SELECT 1;\n-- request: GET /orders/{{order_id}}\nSELECT 2;\n";
        let one = GOOD.replace(
            "[[flow]]\nname = \"order\"\n",
            &format!("[[flow]]\nname = \"order\"\nceiling = {script:?}\n"),
        );
        let scenario = parse(&one, "t.toml").unwrap();
        assert_eq!(scenario.flows[0].ceiling.as_deref(), Some(script));
        assert_eq!(
            ceiling_parts(script),
            [
                (None, "SELECT 1;\n"),
                (
                    Some("GET /orders/{{order_id}}"),
                    "-- request: GET /orders/{{order_id}}\nSELECT 2;\n"
                )
            ]
        );
        // The second request unmarked: refused, naming the mark it needs.
        let unmarked = GOOD.replace(
            "[[flow]]\nname = \"order\"\n",
            "[[flow]]\nname = \"order\"\nceiling = \"SELECT 1;\"\n",
        );
        let error = parse(&unmarked, "t.toml").unwrap_err().to_string();
        assert!(
            error.contains("`-- request: GET /orders/{{order_id}}`"),
            "{error}"
        );
        let partial = format!(
            "{one}\n[[flow]]\nname = \"read\"\n[[flow.step]]\nmethod = \"GET\"\npath = \"/users/1\"\nexpect = 200\n"
        );
        let error = parse(&partial, "t.toml").unwrap_err();
        assert_eq!(error.line, 30, "{error}");
        assert!(
            error.to_string().contains("flow \"read\" has no `ceiling`"),
            "{error}"
        );
    }

    #[test]
    fn every_shipped_scenario_is_embedded_and_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let embedded: Vec<String> = SHIPPED.iter().map(|(n, _)| format!("{n}.toml")).collect();
        assert_eq!(embedded, files);
        let mut names = Vec::new();
        for (shipped, _) in SHIPPED {
            let scenario = find(shipped).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(scenario.source, format!("embedded:{shipped}"));
            names.push(scenario.name);
        }
        assert_eq!(
            names,
            [
                "health",
                "mixed",
                "orders",
                "products-browse",
                "smoke",
                "users-read"
            ]
        );
    }

    #[test]
    fn parses_durations_and_stages() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("10").is_err());
        let stages = parse_stages("10s:1000, 30s:1000,10s:0").unwrap();
        assert_eq!(stages.len(), 3);
        assert_eq!(stages[2].target, 0.0);
        assert!(parse_stages("10s").is_err());
    }
}
