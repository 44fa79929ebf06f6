//! `loadgen compare`: the same scenario against several server x driver
//! stacks, fairly, in interleaved rounds that rotate the stacks' order; a
//! throughput phase (closed model) and a latency phase at one equal rate for
//! every stack (open model), or instead each stack's capacity at a latency
//! target (`capacity`); the database checked after every run; a table
//! with each figure's spread over rounds and a verdict per figure, a JSON
//! record and an HTML report.

mod capacity;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;

use crate::commands::load::{self, LoadArgs};
use crate::commands::places::Places;
use crate::commands::steps::{parse_fractions, Fractions};
use crate::measure::capacity::CapacityStep;
use crate::measure::comparison::{
    judge, rotation, rounds_for_a_winner, summarize, CapacityPhase, CapacitySweep, Ceiling,
    CeilingRun, CeilingStep, CompareRun, Comparison, Contender, Pinning, RoundSearch,
    CEILING_LABEL, READS, SCHEMA,
};
use crate::measure::figure::{Figure, Phase};
use crate::measure::record::{self, Header, RunRecord};
use crate::measure::statistics::median;
use crate::report::{html, text};
use crate::runner;
use crate::runner::pgbench;
use crate::scenario::threshold::Threshold;
use crate::scenario::{Arrivals, Load, Model, Scenario};
use crate::server::affinity::Cpus;
use crate::server::{self, ServerBinary, ServerProcess};

/// Runs default to 4 s measured after a 2 s warm-up (--duration, --warmup);
/// with --capacity, each step of a search defaults to 3 s after 1 s
/// (docs/compare.md gives what a comparison of six stacks takes).
#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Stacks to compare (`loadgen stacks` lists them); one listed twice
    /// runs twice, labelled apart (`axum,axum`: an A/A comparison shows the
    /// noise floor). A stack whose binary is not built is skipped with a
    /// line saying how to build it [default: every stack, unless --stack is
    /// given].
    #[arg(long, value_delimiter = ',', value_parser = server::stack_names())]
    pub servers: Option<Vec<String>>,
    /// A server binary built elsewhere, as LABEL=PATH (repeatable): it takes
    /// the same flags as stackbench's servers, and is compared beside them
    /// under its label, e.g. `--stack base=/tmp/base/stackbench-axum --stack
    /// head=target/release/stackbench-axum` for two builds of one server.
    #[arg(long = "stack", value_name = "LABEL=PATH", value_parser = server::parse_stack)]
    pub stacks: Vec<ServerBinary>,
    /// Database drivers to compare: each stack runs on each of these it
    /// has, or on its own default if it has none of them (Go on lib/pq, Bun
    /// on bun-sql); e.g. tokio-postgres,sqlx for both Rust drivers.
    #[arg(long, value_delimiter = ',', default_value = "tokio-postgres", value_parser = server::driver_names())]
    pub drivers: Vec<String>,
    /// Rounds; each runs every stack once, the order rotated each round
    /// (A B C, B C A, C A B, ...) so drift of the machine and the position in
    /// a round hit every stack alike. Verdicts need 3 rounds; naming a
    /// winner needs more the more stacks are compared (each verdict is
    /// corrected for every comparison made) [default: the fewest that can
    /// name a winner: 5 for two stacks, 6 for four, 7 for six].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: Option<u32>,
    /// Skip the equal-rate latency phase.
    #[arg(long)]
    pub no_latency_phase: bool,
    /// Instead of the throughput and latency phases: each stack's capacity
    /// at this latency target in every round, the highest rate at which
    /// e.g. "p99 < 20ms" holds, found as `loadgen capacity` finds it (every
    /// step of --duration, default 3 s, after --warmup, default 1 s), with
    /// PostgreSQL alone's beside it.
    #[arg(long, value_name = "SLO", value_parser = crate::commands::capacity::parse_slo)]
    pub capacity: Option<Threshold>,
    /// With --capacity: most errors a passing step may have, percent of its requests.
    #[arg(long, default_value = "0.1%", value_parser = load::percent)]
    pub max_error_rate: f64,
    /// With --capacity: each round's search stops when the rate that held
    /// and the one that failed are within this, percent.
    #[arg(long, default_value = "10%", value_parser = load::percent)]
    pub resolution: f64,
    /// With --capacity: after the rounds, each stack's (and PostgreSQL
    /// alone's) latency against load, one step at each fraction FROM:TO:BY
    /// of the median capacity its rounds found (0.25:1.25:0.25), drawn as
    /// curves on one chart.
    #[arg(long, value_name = "FROM:TO:BY", value_parser = parse_fractions, requires = "capacity")]
    pub sweep: Option<Fractions>,
    /// Leave out the ceiling row: PostgreSQL alone, pgbench running the scenario's
    /// SQL (each flow's `ceiling` script) straight at PostgreSQL over as
    /// many connections as a server's pool, in every round and phase, so
    /// each stack's throughput and latency read as a fraction of it.
    #[arg(long)]
    pub no_ceiling: bool,
    /// Server worker threads [default: the server's own default, all cores].
    #[arg(long)]
    pub server_workers: Option<usize>,
    /// Pin each server to these CPUs (e.g. 0 or 0-1), with the OS affinity call.
    #[arg(long, value_parser = crate::server::affinity::parse_cpus)]
    pub pin_server: Option<Cpus>,
    /// Pin loadgen to these CPUs.
    #[arg(long, value_parser = crate::server::affinity::parse_cpus)]
    pub pin_loadgen: Option<Cpus>,
    /// Pin the managed PostgreSQL (postmaster and the backends it starts) to these CPUs.
    #[arg(long, value_parser = crate::server::affinity::parse_cpus)]
    pub pin_db: Option<Cpus>,
    /// Where to save the comparison (JSON; the HTML report goes beside it)
    /// [default: <results-dir>/compare-<scenario>-<time>.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub places: Places,
}

/// Measured time and warm-up of each run when not given on the command line.
pub const DEFAULT_DURATION: std::time::Duration = std::time::Duration::from_secs(4);
pub const DEFAULT_WARMUP: std::time::Duration = std::time::Duration::from_secs(2);
/// The same for each step of a capacity search (`--capacity`).
pub const CAPACITY_STEP: std::time::Duration = std::time::Duration::from_secs(3);
pub const CAPACITY_WARMUP: std::time::Duration = std::time::Duration::from_secs(1);

/// Checks the data the write path must keep true; the servers are stopped.
/// Returns one line per broken invariant, naming the products or orders.
pub async fn verify_database(url: &str, scenario: &Scenario) -> anyhow::Result<Vec<String>> {
    let client = schema::connect(url).await?;
    let dataset = &scenario.dataset;
    let (products, stock) = (i64::from(dataset.products), i64::from(dataset.stock));
    Ok(schema::ledger::violations(&client, products, stock).await?)
}

/// What a round runs: each contender, and the ceiling when the scenario
/// has its SQL.
#[derive(Clone)]
enum Entry {
    Contender(Contender),
    Ceiling,
}

impl Entry {
    fn label(&self) -> &str {
        match self {
            Entry::Contender(contender) => &contender.label,
            Entry::Ceiling => CEILING_LABEL,
        }
    }
}

/// The rounds of a comparison as they run: every run's record, in order.
struct Rounds<'a> {
    /// How many rounds run.
    count: u32,
    args: &'a CompareArgs,
    scenario: &'a Scenario,
    database_url: String,
    binaries: Vec<ServerBinary>,
    scripts: Option<std::sync::Arc<pgbench::Scripts>>,
    order: Vec<String>,
    runs: Vec<CompareRun>,
    ceiling_runs: Vec<CeilingRun>,
    searches: Vec<RoundSearch<CapacityStep>>,
    ceiling_searches: Vec<RoundSearch<CeilingStep>>,
    sweeps: Vec<CapacitySweep<CapacityStep>>,
    ceiling_sweep: Option<CapacitySweep<CeilingStep>>,
}

impl Rounds<'_> {
    /// Every run of the schedule, in its order, with `load`.
    async fn run_phase(
        &mut self,
        schedule: &[(u32, Entry)],
        phase: Phase,
        load: &Load,
    ) -> anyhow::Result<()> {
        for (round, entry) in schedule {
            match entry {
                Entry::Contender(contender) => {
                    self.run_contender(*round, phase, contender, load).await?
                }
                Entry::Ceiling => self.run_ceiling(*round, phase, load).await?,
            }
        }
        Ok(())
    }

    /// pgbench on the scenario's SQL, on the same fresh data as the contenders.
    async fn run_ceiling(&mut self, round: u32, phase: Phase, load: &Load) -> anyhow::Result<()> {
        let Some(scripts) = self.scripts.clone() else {
            return Ok(());
        };
        let label = self.begin(round_label(round, phase, CEILING_LABEL)).await?;
        let (url, load_for_run) = (self.database_url.clone(), load.clone());
        let record = tokio::task::spawn_blocking(move || {
            scripts.run(&url, &load_for_run, server::POOL_SIZE)
        })
        .await
        .context("the pgbench run panicked")??;
        self.check_database(&label).await?;
        eprintln!(
            "   {:.1} req/s, p99 {}, {} failed",
            record.rps,
            crate::units::format_us(record.latency.p99_us as f64),
            record.failed
        );
        self.ceiling_runs.push(CeilingRun {
            round,
            phase,
            record,
        });
        Ok(())
    }

    /// Says which run starts, records it in the order, and resets the data.
    async fn begin(&mut self, label: String) -> anyhow::Result<String> {
        let label = self.announce(label);
        load::reset_database(&self.database_url, self.scenario).await?;
        Ok(label)
    }

    /// Says which run starts and records it in the order; the steps of a
    /// capacity search or sweep reset the data themselves, each before it
    /// runs.
    fn announce(&mut self, label: String) -> String {
        eprintln!("== {label}");
        self.order.push(label.clone());
        label
    }

    async fn check_database(&self, label: &str) -> anyhow::Result<()> {
        let problems = verify_database(&self.database_url, self.scenario).await?;
        if !problems.is_empty() {
            bail!(
                "the database is inconsistent after {label} ({}):\n  {}",
                "stock must equal the seeded stock minus confirmed orders, and totals their items",
                problems.join("\n  ")
            );
        }
        Ok(())
    }

    /// A contender's run. One whose generator fell behind is kept but gives
    /// no figures: running it again would cost the comparison's time for
    /// runs that, on a machine where the generator cannot keep up, fall
    /// behind again (`results/validity-main-job.json`).
    async fn run_contender(
        &mut self,
        round: u32,
        phase: Phase,
        contender: &Contender,
        load: &Load,
    ) -> anyhow::Result<()> {
        let record = self
            .run_contender_once(round, phase, contender, load)
            .await?;
        if !record.validity.valid {
            eprintln!(
                "   INVALID: {}; this run gives no figures",
                record.validity.reasons.join("; ")
            );
        }
        self.runs.push(CompareRun {
            round,
            phase,
            contender: contender.label.clone(),
            record,
        });
        Ok(())
    }

    /// One run of a contender on fresh data, its database checked after.
    async fn run_contender_once(
        &mut self,
        round: u32,
        phase: Phase,
        contender: &Contender,
        load: &Load,
    ) -> anyhow::Result<RunRecord> {
        let label = self
            .begin(round_label(round, phase, &contender.label))
            .await?;
        let server = self.start_server(contender).await?;
        let threads = (self.args.load).threads(load, crate::scenario::Shard::WHOLE);
        let tolerance = self.args.load.tolerance.tolerance();
        let config = runner::config_of(load, threads, self.args.load.seed, true, tolerance);
        let (destination, identity, pid) =
            (server.destination(), server.identity.clone(), server.pid());
        let scenario = self.scenario.clone();
        let load_for_run = load.clone();
        let record = tokio::task::spawn_blocking(move || {
            runner::measure(
                &scenario,
                &load_for_run,
                config,
                destination,
                identity,
                Some(pid),
                runner::Progress::Live,
            )
        })
        .await
        .context("the run panicked")?;
        server.stop()?;
        self.check_database(&label).await?;
        for warning in &record.generator.warnings {
            eprintln!("   warning: {warning}");
        }
        eprintln!(
            "   {:.1} ok/s, p99 {}, {} errors",
            record.total.rps,
            crate::units::format_us(record.total.latency.p99_us as f64),
            record.total.error_count()
        );
        Ok(record)
    }

    /// Starts a contender's server on the comparison's database.
    async fn start_server(&self, contender: &Contender) -> anyhow::Result<ServerProcess> {
        let pin = self.args.pin_server.as_ref().map(|cpus| cpus.0.as_slice());
        let binary = (self.binaries.iter())
            .find(|binary| binary.label == contender.server)
            .expect("every contender has its binary");
        ServerProcess::start(
            binary,
            &contender.driver,
            &self.database_url,
            self.args.server_workers,
            pin,
        )
        .await
    }

    /// Each contender's median throughput over the rounds run so far.
    fn median_throughput(&self, contender: &Contender) -> f64 {
        let mut rates: Vec<f64> = (self.runs.iter())
            .filter(|run| run.phase == Phase::Throughput && run.contender == contender.label)
            .map(|run| run.record.total.rps)
            .collect();
        median(&mut rates)
    }
}

pub fn compare(runtime: &tokio::runtime::Runtime, args: CompareArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    // Here --rate is the latency phase's rate, not a model for the whole run.
    // Shorter defaults than a single run's, so a full comparison fits in a
    // few minutes.
    let (duration, warmup) = match args.capacity {
        Some(_) => (CAPACITY_STEP, CAPACITY_WARMUP),
        None => (DEFAULT_DURATION, DEFAULT_WARMUP),
    };
    let load_args = LoadArgs {
        rate: None,
        duration: args.load.duration.or(Some(duration)),
        warmup: args.load.warmup.or(Some(warmup)),
        ..args.load.clone()
    };
    let (scenario, load) = load_args.resolve()?;
    let header = Header::now(SCHEMA, &scenario.name);
    let binaries = binaries(&args)?;
    let contenders = contenders(&binaries, &args.drivers);
    if contenders.is_empty() {
        bail!("nothing to compare: give --servers or --stack (skipped stacks are said above)");
    }
    if let Some(cpus) = &args.pin_loadgen {
        crate::server::affinity::pin_self(&cpus.0).context("pinning loadgen")?;
    }
    let database_url = runtime.block_on(args.places.data.database_url())?;
    let _database_pin = match &args.pin_db {
        Some(cpus) => Some(pin_database(&cpus.0, &args.places.data.cluster())?),
        None => None,
    };
    let plan = match &args.capacity {
        Some(slo) => Some(capacity::Plan::new(&args, slo.clone(), &load)?),
        None => None,
    };
    let scripts = match (&args.capacity, ceiling_scripts(&args, &scenario)?) {
        (Some(slo), Some(_)) if !capacity::ceiling_can_judge(slo) => {
            eprintln!(
                "no ceiling row: pgbench's record keeps the mean, the maximum and p50, p90, p99, \
                 p99.9 and p99.99 of latency, not the {slo}"
            );
            None
        }
        (_, scripts) => scripts,
    };
    let mut entries: Vec<Entry> = contenders.iter().cloned().map(Entry::Contender).collect();
    if scripts.is_some() {
        entries.push(Entry::Ceiling);
    }
    let figures = Figure::compared(plan.is_some()).len();
    let count = (args.rounds).unwrap_or_else(|| rounds_for_a_winner(contenders.len(), figures));
    eprintln!("{count} rounds");
    let mut rounds = Rounds {
        count,
        args: &args,
        scenario: &scenario,
        database_url,
        binaries,
        scripts,
        order: Vec::new(),
        runs: Vec::new(),
        ceiling_runs: Vec::new(),
        searches: Vec::new(),
        ceiling_searches: Vec::new(),
        sweeps: Vec::new(),
        ceiling_sweep: None,
    };
    let schedule = rotation(&entries, count);
    if let Some(plan) = &plan {
        rounds.run_capacity_phase(runtime, &schedule, plan)?;
        rounds.run_sweeps(runtime, &entries, plan)?;
        let capacity = plan.phase(&mut rounds);
        let comparison = assemble(&args, header, &contenders, rounds, None, Some(capacity));
        return report(&args, comparison, started);
    }
    let (throughput_load, _) = throughput_load(&load);
    runtime.block_on(rounds.run_phase(&schedule, Phase::Throughput, &throughput_load))?;
    let latency_rate = (!args.no_latency_phase).then(|| {
        args.load.rate.unwrap_or_else(|| {
            let slowest = (contenders.iter())
                .map(|contender| rounds.median_throughput(contender))
                .fold(f64::INFINITY, f64::min);
            (0.7 * slowest).max(1.0)
        })
    });
    if let Some(rate) = latency_rate {
        let (max_inflight, arrivals) = open_model(&args, &load);
        let latency_load = Load {
            model: Model::Open {
                rate,
                max_inflight,
                arrivals,
            },
            ..load.clone()
        };
        eprintln!(
            "latency phase: every contender at {rate:.1} req/s, {} arrivals",
            arrivals.name()
        );
        runtime.block_on(rounds.run_phase(&schedule, Phase::Latency, &latency_load))?;
    }
    let comparison = assemble(&args, header, &contenders, rounds, latency_rate, None);
    report(&args, comparison, started)
}

/// The name of a round's run in the output and the record's order.
fn round_label(round: u32, phase: Phase, what: &str) -> String {
    format!("round {round} {phase} {what}")
}

/// Prints the comparison, and saves it as JSON and HTML.
fn report(args: &CompareArgs, comparison: Comparison, started: Instant) -> anyhow::Result<u8> {
    print!("{}", text::comparison(&comparison));
    let path = args.out.clone().unwrap_or_else(|| {
        (args.places.results_dir).join(format!(
            "compare-{}-{}.json",
            comparison.header.scenario,
            load::timestamp()
        ))
    });
    save(&comparison, &path)?;
    println!(
        "saved {} and {}",
        path.display(),
        path.with_extension("html").display()
    );
    eprintln!("comparison took {:.0} s", started.elapsed().as_secs_f64());
    Ok(0)
}

/// The binaries to compare: the named stacks that are built (the others are
/// skipped, and said so, so that one missing toolchain does not stop the
/// rest), then those given as LABEL=PATH.
fn binaries(args: &CompareArgs) -> anyhow::Result<Vec<ServerBinary>> {
    let names: Vec<String> = match (&args.servers, args.stacks.is_empty()) {
        (Some(servers), _) => servers.clone(),
        (None, true) => stacks::STACKS.iter().map(|s| s.name.to_string()).collect(),
        (None, false) => Vec::new(),
    };
    let mut binaries: Vec<ServerBinary> = Vec::new();
    for name in &names {
        match ServerBinary::builtin(name, args.places.bin_dir.as_deref()) {
            Ok(binary) => binaries.push(binary),
            Err(error) => eprintln!("skipping {name}: {error:#}"),
        }
    }
    for binary in &args.stacks {
        if (binaries.iter()).any(|known| known.label == binary.label && known != binary) {
            bail!(
                "--stack {}: that label is taken; give each stack its own",
                binary.label
            );
        }
        binaries.push(binary.clone());
    }
    Ok(binaries)
}

/// Each binary on each of `drivers` it takes (or its own default if none),
/// labelled apart when listed twice.
fn contenders(binaries: &[ServerBinary], drivers: &[String]) -> Vec<Contender> {
    let mut contenders: Vec<Contender> = Vec::new();
    for binary in binaries {
        let mut own: Vec<&str> = (drivers.iter())
            .map(String::as_str)
            .filter(|driver| binary.accepts(driver))
            .collect();
        if own.is_empty() {
            own.push(binary.default_driver());
        }
        for driver in own {
            let name = format!("{}+{driver}", binary.label);
            let copies = (contenders.iter())
                .filter(|c| c.server == binary.label && c.driver == driver)
                .count();
            contenders.push(Contender {
                label: match copies {
                    0 => name,
                    n => format!("{name}#{}", n + 1),
                },
                server: binary.label.clone(),
                driver: driver.to_string(),
            });
        }
    }
    contenders
}

/// The cap on requests in flight and the arrivals of a comparison's
/// open-model runs (the latency phase, the capacity search's steps). Every
/// connection is opened before the window (and costs the server memory), so
/// the cap is headroom over the throughput phase's concurrency, not the
/// open model's general default. Arrivals are Poisson unless told
/// otherwise: pgbench --rate, the database-alone row, has no other arrival
/// process, and the rows compare only on the same one.
fn open_model(args: &CompareArgs, load: &Load) -> (u32, Arrivals) {
    let (_, connections) = throughput_load(load);
    let max_inflight = (args.load.max_inflight).unwrap_or((4 * connections).clamp(256, 1024));
    (
        max_inflight,
        args.load.arrivals.unwrap_or(Arrivals::Poisson),
    )
}

/// The throughput phase's load, closed: an open scenario gets as many
/// connections as it allowed in flight. Also returns that number.
fn throughput_load(load: &Load) -> (Load, u32) {
    let connections = match load.model {
        Model::Closed { connections } => connections,
        Model::Open { max_inflight, .. } => max_inflight.min(256),
    };
    let closed = Load {
        model: Model::Closed { connections },
        ..load.clone()
    };
    (closed, connections)
}

/// The ceiling's scripts, unless left out or the scenario has none.
fn ceiling_scripts(
    args: &CompareArgs,
    scenario: &Scenario,
) -> anyhow::Result<Option<std::sync::Arc<pgbench::Scripts>>> {
    if args.no_ceiling {
        return Ok(None);
    }
    let scripts = pgbench::Scripts::prepare(scenario)?;
    if scripts.is_none() {
        eprintln!(
            "no ceiling row: scenario {} has no `ceiling` scripts in its flows",
            scenario.name
        );
    }
    Ok(scripts.map(std::sync::Arc::new))
}

/// The comparison's record from its rounds: figures, verdicts, the ceiling.
fn assemble(
    args: &CompareArgs,
    header: Header,
    contenders: &[Contender],
    rounds: Rounds<'_>,
    latency_rate: Option<f64>,
    capacity: Option<CapacityPhase>,
) -> Comparison {
    let searches = capacity.as_ref().map_or(&[][..], |phase| &phase.searches);
    let summary = summarize(contenders, &rounds.runs, searches, latency_rate.is_some());
    let verdicts = judge(&summary, rounds.count);
    let ceiling = (rounds.scripts.is_some()).then(|| {
        let (runs, searches) = (rounds.ceiling_runs, rounds.ceiling_searches);
        let ceiling = Ceiling::new(runs, searches, &summary, latency_rate.is_some());
        Ceiling {
            sweep: rounds.ceiling_sweep,
            ..ceiling
        }
    });
    Comparison {
        header,
        rounds: rounds.count,
        order: rounds.order,
        latency_rate,
        pinning: Pinning {
            server: args.pin_server.as_ref().map(|c| c.0.clone()),
            loadgen: args.pin_loadgen.as_ref().map(|c| c.0.clone()),
            db: args.pin_db.as_ref().map(|c| c.0.clone()),
        },
        runs: rounds.runs,
        summary,
        verdicts,
        ceiling,
        capacity,
    }
}

/// Gives the database its CPUs back when the comparison ends, however it ends.
struct DatabasePin {
    pid: i32,
    previous: nix::sched::CpuSet,
}

impl Drop for DatabasePin {
    fn drop(&mut self) {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(self.pid), &self.previous);
    }
}

/// Pins the managed cluster's postmaster (and so the backends it forks).
fn pin_database(cpus: &[usize], cluster: &schema::Cluster) -> anyhow::Result<DatabasePin> {
    let pid_file = cluster.dir().join("data").join("postmaster.pid");
    let text = std::fs::read_to_string(&pid_file).with_context(|| {
        format!(
            "--pin-db needs the managed cluster; cannot read {}",
            pid_file.display()
        )
    })?;
    let pid: i32 = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .context("postmaster.pid has no pid")?;
    let previous = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(pid))
        .context("reading PostgreSQL's CPUs")?;
    crate::server::affinity::pin_pid(pid, cpus).context("pinning PostgreSQL")?;
    Ok(DatabasePin { pid, previous })
}

pub fn save(comparison: &Comparison, path: &std::path::Path) -> anyhow::Result<()> {
    record::save(comparison, path)?;
    let html = html::report(comparison)?;
    let html_path = path.with_extension("html");
    std::fs::write(&html_path, html).with_context(|| format!("writing {}", html_path.display()))
}

pub fn read(path: &std::path::Path) -> anyhow::Result<Comparison> {
    record::read(path, &READS, "a loadgen comparison")
}
