//! The load engine: one OS thread per worker, each with its own
//! single-threaded tokio runtime owning its connections, its pacer and its
//! statistics. Nothing on the request path takes a lock, sends on a channel
//! or allocates once buffers have grown; threads report once a second for
//! the timeline and hand their figures over at the end.
//!
//! Every request planned in the measured window is accounted for: answered,
//! failed, timed out (latency from the plan to the timeout), or unanswered
//! when the run's time is up. Requests in flight at the end get a grace
//! period ([`RunSpec::grace`]) to finish; what is still unanswered then is
//! recorded with the latency it had reached, and open-model requests that
//! never went out (every connection busy) with the time from their plan to
//! the end: both as lower bounds, so a server that stops answering shows in
//! the percentiles and the error rate, not only in a warning.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use tokio::time::{sleep_until, Instant};

pub mod http1;
pub mod priority;
pub mod schedule;
mod timer;

use http1::{Connection, WireError};
use schedule::{Plan, Profile};

use crate::measure::record::Priority;
use crate::measure::steps::{new_second_histogram, ErrorKind, StepStats, ThreadStats};
use crate::scenario::template::RenderContext;
use crate::scenario::{Flow, Load, Model, Scenario, Shard, Step};

/// Time before the clock starts, for the threads to open their connections.
const CONNECT_AHEAD: Duration = Duration::from_millis(300);
/// The longest requests in flight at the end are waited for.
const MAX_GRACE: Duration = Duration::from_secs(2);

/// Where load goes: every address the target resolves to, and its authority
/// for the `Host` header.
#[derive(Clone)]
pub struct Destination {
    pub addresses: Vec<SocketAddr>,
    pub host: String,
}

/// Everything the worker threads share, read-only.
pub struct RunSpec {
    pub scenario: Scenario,
    pub load: Load,
    /// Never more than the connections: a thread without one could not
    /// send its share of the rate.
    pub threads: usize,
    /// Every address the target resolves to, tried in turn.
    pub addresses: Vec<SocketAddr>,
    /// The `Host` header value: the target's authority.
    pub host: String,
    pub seed: u64,
    /// The part of the run this generator sends: all of it unless split.
    pub shard: Shard,
    /// When the clock starts (the warm-up's first instant).
    pub start: Instant,
}

impl RunSpec {
    /// A run that starts at `start_at` (a shared wall-clock time, which may
    /// have just passed), or as soon as the connections are open.
    pub fn new(
        scenario: Scenario,
        load: Load,
        threads: usize,
        destination: Destination,
        seed: u64,
        shard: Shard,
        start_at: Option<SystemTime>,
    ) -> RunSpec {
        RunSpec {
            threads: threads_for(&load, shard, threads),
            start: start_at.map_or(Instant::now() + CONNECT_AHEAD, instant_at),
            scenario,
            load,
            addresses: destination.addresses,
            host: destination.host,
            seed,
            shard,
        }
    }

    pub fn warmup_end(&self) -> Instant {
        self.start + self.load.warmup
    }

    pub fn end(&self) -> Instant {
        self.start + self.load.total()
    }

    /// How long requests in flight at the end may still take: their
    /// timeout, at most [`MAX_GRACE`].
    pub fn grace(&self) -> Duration {
        self.load.timeout.min(MAX_GRACE)
    }
}

/// Connections in all: the closed model's connections (the most any stage
/// asks for), or the open model's cap on requests in flight.
pub fn connections(load: &Load) -> usize {
    match load.model {
        Model::Closed { connections } => match &load.stages {
            Some(stages) => stages
                .iter()
                .map(|s| s.target.ceil() as usize)
                .max()
                .unwrap_or(0),
            None => connections as usize,
        },
        Model::Open { max_inflight, .. } => max_inflight as usize,
    }
    .max(1)
}

/// The worker threads a shard of a load gets: as asked, but no more than
/// its connections.
pub fn threads_for(load: &Load, shard: Shard, requested: usize) -> usize {
    requested.clamp(1, shard.connections(connections(load)).count().max(1))
}

/// The monotonic clock's instant at the wall-clock time `at`, past or future.
fn instant_at(at: SystemTime) -> Instant {
    let (now, wall) = (Instant::now(), SystemTime::now());
    match at.duration_since(wall) {
        Ok(ahead) => now + ahead,
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

/// One second of one thread, for the timeline. `second` counts from the
/// start, warm-up included; the tick after the last second carries what the
/// grace period saw.
pub struct Tick {
    pub second: u64,
    /// Requests that ended this second: answered, failed or given up on.
    pub completed: u64,
    pub successes: u64,
    pub errors: u64,
    pub in_flight: u64,
    pub latency: Histogram<u64>,
}

/// What a run measured.
pub struct Outcome {
    pub stats: ThreadStats,
    /// CPU seconds (user + system) of each worker thread.
    pub thread_cpu: Vec<f64>,
    /// Wall time the worker threads ran.
    pub wall: Duration,
    /// How the worker threads were scheduled (the lowest, if the OS gave
    /// them different priorities).
    pub priority: Priority,
    /// How long after the planned start the last worker thread was running.
    pub start_lag: Duration,
}

/// Runs the load described by `spec`, sending a [`Tick`] per thread per second.
pub fn run(spec: Arc<RunSpec>, ticks: mpsc::Sender<Tick>) -> Outcome {
    let handles: Vec<_> = (0..spec.threads)
        .map(|thread| {
            let spec = Arc::clone(&spec);
            let ticks = ticks.clone();
            std::thread::Builder::new()
                .name(format!("loadgen-{thread}"))
                .spawn(move || {
                    let priority = priority::raise_this_thread();
                    (run_thread(spec, thread, ticks), priority)
                })
                .expect("spawning a worker thread")
        })
        .collect();
    drop(ticks);
    let mut stats = ThreadStats::new(spec.scenario.steps().count());
    let mut thread_cpu = Vec::new();
    let mut priority = Priority::Realtime;
    let mut start_lag = Duration::ZERO;
    for handle in handles {
        let (ran, thread_priority) = handle.join().expect("a worker thread panicked");
        stats.merge(&ran.stats);
        thread_cpu.push(ran.cpu_seconds);
        start_lag = start_lag.max(ran.start_lag);
        priority = priority.lower(thread_priority);
    }
    Outcome {
        stats,
        thread_cpu,
        wall: Instant::now().saturating_duration_since(spec.start),
        priority,
        start_lag,
    }
}

/// What one worker thread hands over at the end.
struct ThreadRun {
    stats: ThreadStats,
    cpu_seconds: f64,
    /// How long after the planned start it woke up.
    start_lag: Duration,
}

fn thread_cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_THREAD).map_or(0.0, |usage| {
        let user = usage.user_time();
        let system = usage.system_time();
        (user.tv_sec() + system.tv_sec()) as f64 + (user.tv_usec() + system.tv_usec()) as f64 / 1e6
    })
}

/// The state a worker thread's tasks share; single-threaded, so `Cell`s.
struct Worker {
    spec: Arc<RunSpec>,
    warmup_end: Instant,
    end: Instant,
    /// The end plus the grace period: nothing is waited for past this.
    hard_stop: Instant,
    stats: RefCell<ThreadStats>,
    second: RefCell<Second>,
    in_flight: Cell<u64>,
    /// Open model: idle connections waiting for a planned request.
    idle: RefCell<Vec<Rc<Slot>>>,
    /// Open model: the pacer, when it waits for an idle connection.
    pacer_waker: Cell<Option<Waker>>,
    /// Open model: the pacer has planned its last request.
    pacing_over: Cell<bool>,
}

/// The timeline's figures for the current second.
struct Second {
    completed: u64,
    successes: u64,
    errors: u64,
    latency: Histogram<u64>,
}

impl Second {
    fn new() -> Second {
        Second {
            completed: 0,
            successes: 0,
            errors: 0,
            latency: new_second_histogram(),
        }
    }
}

/// What became of one request.
enum Exchange {
    Response {
        status: u16,
        ok: bool,
        close: bool,
        service: Duration,
    },
    Failed(ErrorKind),
}

impl Worker {
    /// Records a request planned at `planned` that ended now, in the
    /// figures if it was planned after the warm-up, and in the timeline.
    /// Returns whether it succeeded.
    fn record(
        &self,
        stats: &mut StepStats,
        step: &Step,
        planned: Instant,
        exchange: &Exchange,
    ) -> bool {
        let latency = Instant::now()
            .saturating_duration_since(planned)
            .as_micros() as u64;
        let counted = planned >= self.warmup_end;
        let failure = match *exchange {
            Exchange::Response {
                status,
                ok,
                service,
                ..
            } => {
                if counted {
                    stats.record_response(latency, service.as_micros() as u64, status);
                }
                match (status == step.expect, ok) {
                    (false, _) => Some(ErrorKind::Status),
                    (true, false) => Some(ErrorKind::Check),
                    (true, true) => None,
                }
            }
            Exchange::Failed(kind) => {
                if counted {
                    stats.latency.saturating_record(latency.max(1));
                }
                Some(kind)
            }
        };
        if let (true, Some(kind)) = (counted, failure) {
            stats.record_error(kind);
        }
        self.note_second(latency, failure.is_none());
        failure.is_none()
    }

    /// Open model, as a connection takes a request to send now: how late it
    /// goes out, and how much of that is the generator's own.
    fn note_lateness(&self, handoff: Handoff) {
        if handoff.planned < self.warmup_end {
            return;
        }
        let now = Instant::now();
        let micros = |since: Instant| now.saturating_duration_since(since).as_micros() as u64;
        let mut stats = self.stats.borrow_mut();
        stats
            .lateness
            .saturating_record(micros(handoff.planned).max(1));
        stats
            .own_lateness
            .saturating_record(micros(handoff.ready).max(1));
    }

    /// The timeline shows the warm-up too; the figures do not.
    fn note_second(&self, latency_us: u64, success: bool) {
        let mut second = self.second.borrow_mut();
        second.completed += 1;
        if success {
            second.successes += 1;
        } else {
            second.errors += 1;
        }
        second.latency.saturating_record(latency_us.max(1));
    }
}

/// Where the pacer hands a planned send time to an idle connection.
#[derive(Default)]
struct Slot {
    planned: Cell<Option<Handoff>>,
    waker: Cell<Option<Waker>>,
    /// When the connection last became idle, free for a request.
    idle_since: Cell<Option<Instant>>,
}

/// A request the pacer hands to a connection: when it was planned, and
/// from when a connection was free to send it (the later of its planned
/// time and the moment the connection became idle). Any delay before
/// `ready` was the server's, keeping every connection busy; any after it is
/// the generator's own (its pacer woke late, or its thread was not running).
#[derive(Clone, Copy)]
struct Handoff {
    planned: Instant,
    ready: Instant,
}

fn run_thread(spec: Arc<RunSpec>, thread: usize, ticks: mpsc::Sender<Tick>) -> ThreadRun {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a worker runtime");
    let cpu_before = thread_cpu_seconds();
    let worker = Rc::new(Worker {
        warmup_end: spec.warmup_end(),
        end: spec.end(),
        hard_stop: spec.end() + spec.grace(),
        stats: RefCell::new(ThreadStats::new(spec.scenario.steps().count())),
        second: RefCell::new(Second::new()),
        in_flight: Cell::new(0),
        idle: RefCell::new(Vec::new()),
        pacer_waker: Cell::new(None),
        pacing_over: Cell::new(false),
        spec,
    });
    let local = tokio::task::LocalSet::new();
    let total = connections(&worker.spec.load);
    let (threads, shard) = (worker.spec.threads, worker.spec.shard);
    // The shard's connections are dealt out to its threads in turn. Each
    // connection keeps its index in the whole run, which seeds its
    // randomness and spaces its counter, so no two shards repeat them.
    let mine: Vec<usize> = shard
        .connections(total)
        .skip(thread)
        .step_by(threads)
        .collect();
    let open = matches!(worker.spec.load.model, Model::Open { .. });
    let start_lag = local.block_on(&runtime, async {
        let mut tasks = Vec::new();
        for &index in &mine {
            let slot = open.then(|| Rc::new(Slot::default()));
            tasks.push(tokio::task::spawn_local(connection_task(
                Rc::clone(&worker),
                index,
                total,
                slot,
            )));
        }
        if open {
            let spec = &worker.spec;
            let plan = Plan::of_thread(&spec.load, shard, thread, threads, spec.seed);
            tasks.push(tokio::task::spawn_local(pacer(Rc::clone(&worker), plan)));
        }
        let ticker = tokio::task::spawn_local(ticker(Rc::clone(&worker), ticks.clone()));
        sleep_until(worker.spec.start).await;
        let start_lag = Instant::now().saturating_duration_since(worker.spec.start);
        for task in tasks {
            task.await.expect("a worker task panicked");
        }
        ticker.await.expect("the ticker panicked");
        // What ended after the last full second: the grace period.
        let last = Tick::from_second(
            worker.second.replace(Second::new()),
            worker.spec.load.total().as_secs_f64().ceil() as u64 + 1,
            worker.in_flight.get(),
        );
        let _ = ticks.send(last);
        start_lag
    });
    ThreadRun {
        stats: worker.stats.replace(ThreadStats::new(0)),
        cpu_seconds: thread_cpu_seconds() - cpu_before,
        start_lag,
    }
}

impl Tick {
    fn from_second(second: Second, number: u64, in_flight: u64) -> Tick {
        Tick {
            second: number,
            completed: second.completed,
            successes: second.successes,
            errors: second.errors,
            in_flight,
            latency: second.latency,
        }
    }
}

/// Sends one tick per second until the end of the run.
async fn ticker(worker: Rc<Worker>, ticks: mpsc::Sender<Tick>) {
    let start = worker.spec.start;
    let mut number = 1;
    loop {
        let at = (start + Duration::from_secs(number)).min(worker.end);
        sleep_until(at).await;
        let second = worker.second.replace(Second::new());
        let tick = Tick::from_second(second, number, worker.in_flight.get());
        if ticks.send(tick).is_err() || at >= worker.end {
            return;
        }
        number += 1;
    }
}

/// Open model: hands each planned request to an idle connection at its
/// planned time, and every request already due at once; when none is idle,
/// the request waits (and is late) until one is. Latency counts from the
/// plan either way.
async fn pacer(worker: Rc<Worker>, mut plan: Plan) {
    let start = worker.spec.start;
    let mut timer = timer::PreciseTimer::new().expect("creating the pacer's timer");
    let mut next = plan.next();
    while let Some(offset) = next {
        let planned = start + Duration::from_secs_f64(offset);
        if planned >= worker.end {
            break;
        }
        timer
            .sleep_until(planned)
            .await
            .expect("waiting on the pacer's timer");
        let slot = poll_fn(|cx| match worker.idle.borrow_mut().pop() {
            Some(slot) => Poll::Ready(Some(slot)),
            None => {
                worker.pacer_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        });
        // A request planned before the end goes out even if this wake-up
        // came after it: the idle connection is looked at first.
        let slot = tokio::select! {
            biased;
            slot = slot => slot,
            () = sleep_until(worker.end) => None,
        };
        let Some(slot) = slot else { break };
        let idle_since = slot.idle_since.get().unwrap_or(planned);
        slot.planned.set(Some(Handoff {
            planned,
            ready: planned.max(idle_since),
        }));
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
        next = plan.next();
    }
    // Planned before the end but never sent: every connection stayed busy.
    // Each waited from its plan until the end, at least.
    let counted_from = worker.spec.load.warmup.as_secs_f64();
    let run_end = worker.spec.load.total().as_secs_f64();
    {
        let mut stats = worker.stats.borrow_mut();
        while let Some(offset) = next.filter(|&offset| offset < run_end) {
            let waited = worker
                .end
                .saturating_duration_since(start + Duration::from_secs_f64(offset))
                .as_micros() as u64;
            if offset >= counted_from {
                stats
                    .never_sent
                    .record_failure(waited, ErrorKind::Unanswered);
            }
            worker.note_second(waited, false);
            next = plan.next();
        }
    }
    worker.pacing_over.set(true);
    for slot in worker.idle.borrow_mut().drain(..) {
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

/// Where a connection is in its flows.
struct Cursor {
    flow: usize,
    step: usize,
    captured: Vec<Vec<u8>>,
}

/// Per-connection buffers and randomness, reused for every request.
struct Client {
    connection: Option<Connection>,
    /// Which of the target's addresses to try first: the last that worked.
    address: usize,
    rng: fastrand::Rng,
    counter: u64,
    counter_stride: u64,
    request: Vec<u8>,
    body: Vec<u8>,
    cursor: Cursor,
    flow_weights: Vec<u32>,
}

impl Client {
    fn pick_flow(&mut self, flows: &[Flow]) {
        let total = *self.flow_weights.last().expect("at least one flow");
        let ticket = self.rng.u32(0..total);
        let flow = self
            .flow_weights
            .iter()
            .position(|&w| ticket < w)
            .expect("ticket below total");
        self.cursor.flow = flow;
        self.cursor.step = 0;
        self.cursor.captured.resize(flows[flow].slots, Vec::new());
    }

    /// Writes the request of `step` into `self.request`.
    fn prepare(&mut self, step: &Step, host: &str, shard: Shard) {
        let Client {
            rng,
            counter,
            counter_stride,
            request,
            body,
            cursor,
            ..
        } = self;
        let mut context = RenderContext {
            rng,
            counter,
            counter_stride: *counter_stride,
            captured: &cursor.captured,
            shard,
        };
        request.clear();
        request.extend_from_slice(step.method.as_bytes());
        request.push(b' ');
        step.path.render(request, &mut context);
        request.extend_from_slice(b" HTTP/1.1\r\n");
        if !step.sets_host {
            request.extend_from_slice(b"Host: ");
            request.extend_from_slice(host.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(&step.headers);
        match &step.body {
            Some(template) => {
                body.clear();
                template.render(body, &mut context);
                if !step.sets_content_type {
                    request.extend_from_slice(b"Content-Type: application/json\r\n");
                }
                request.extend_from_slice(b"Content-Length: ");
                let _ = std::io::Write::write_fmt(request, format_args!("{}", body.len()));
                request.extend_from_slice(b"\r\n\r\n");
                request.extend_from_slice(body);
            }
            // A request that may carry a body says it has none (RFC 9110 8.6).
            None if step.method_expects_body() => {
                request.extend_from_slice(b"Content-Length: 0\r\n\r\n")
            }
            None => request.extend_from_slice(b"\r\n"),
        }
    }

    /// Opens a connection to the first of `addresses` that accepts one,
    /// starting with the one that worked last.
    async fn connect(&mut self, addresses: &[SocketAddr]) -> std::io::Result<()> {
        let (connection, used) = Connection::connect_any(addresses, self.address).await?;
        self.connection = Some(connection);
        self.address = used;
        Ok(())
    }
}

/// Checks and captures on a response body; false if one fails.
fn inspect(step: &Step, body: &[u8], captured: &mut [Vec<u8>]) -> bool {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return false;
    };
    for (field, expected) in &step.checks {
        if object.get(field) != Some(expected) {
            return false;
        }
    }
    for (slot, field) in &step.captures {
        let value = &mut captured[*slot];
        value.clear();
        match object.get(field) {
            Some(serde_json::Value::String(text)) => value.extend_from_slice(text.as_bytes()),
            Some(serde_json::Value::Number(number)) => {
                value.extend_from_slice(number.to_string().as_bytes())
            }
            _ => return false,
        }
    }
    true
}

async fn connection_task(worker: Rc<Worker>, index: usize, total: usize, slot: Option<Rc<Slot>>) {
    let spec = &worker.spec;
    let flows = &spec.scenario.flows;
    let mut running = 0;
    let flow_weights = flows
        .iter()
        .map(|flow| {
            running += flow.weight;
            running
        })
        .collect();
    let mut client = Client {
        connection: None,
        address: 0,
        rng: fastrand::Rng::with_seed(
            spec.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ),
        counter: index as u64 + 1,
        counter_stride: total as u64,
        request: Vec::with_capacity(1024),
        body: Vec::with_capacity(1024),
        cursor: Cursor {
            flow: 0,
            step: 0,
            captured: Vec::new(),
        },
        flow_weights,
    };
    client.pick_flow(flows);
    let closed_profile =
        matches!(spec.load.model, Model::Closed { .. }).then(|| Profile::for_load(&spec.load));
    // Open the connection before the clock starts, as wrk does, but not
    // long before (a shard may wait minutes for a shared start, and servers
    // close idle connections); a failure (or a connect still pending at the
    // start) is retried, and counted, with the first request.
    sleep_until(spec.start.checked_sub(CONNECT_AHEAD).unwrap_or(spec.start)).await;
    let _ = tokio::time::timeout_at(spec.start, client.connect(&spec.addresses)).await;
    sleep_until(spec.start).await;
    loop {
        // When to send, by the plan (open) or now (closed).
        let planned = match &slot {
            Some(slot) => match wait_for_plan(&worker, slot, &mut client).await {
                Some(handoff) => {
                    worker.note_lateness(handoff);
                    handoff.planned
                }
                None => return,
            },
            None => {
                let now = Instant::now();
                if now >= worker.end {
                    return;
                }
                let profile = closed_profile.as_ref().expect("closed model");
                let active = profile
                    .at(now.saturating_duration_since(spec.start).as_secs_f64())
                    .round() as usize;
                if index >= active {
                    // Not needed at this point of the stages.
                    client.connection = None;
                    sleep_until((now + Duration::from_millis(10)).min(worker.end)).await;
                    continue;
                }
                now
            }
        };
        let step = &flows[client.cursor.flow].steps[client.cursor.step];
        if planned < worker.warmup_end {
            worker.stats.borrow_mut().warmup_requests += 1;
        }
        worker.in_flight.set(worker.in_flight.get() + 1);
        let exchange = exchange(&worker, &mut client, step, planned).await;
        worker.in_flight.set(worker.in_flight.get() - 1);

        let step_ok = {
            let mut stats = worker.stats.borrow_mut();
            if Instant::now() > worker.end && planned >= worker.warmup_end {
                stats.in_flight_at_end += 1;
            }
            match exchange {
                Exchange::Response { close: true, .. } | Exchange::Failed(_) => {
                    if client.connection.take().is_some() {
                        stats.reconnects += 1;
                    }
                }
                Exchange::Response { .. } => {}
            }
            worker.record(&mut stats.steps[step.id], step, planned, &exchange)
        };
        match exchange {
            Exchange::Failed(ErrorKind::Unanswered) => return,
            // Do not spin against a port that refuses connections.
            Exchange::Failed(ErrorKind::Connect) => {
                sleep_until((Instant::now() + Duration::from_millis(10)).min(worker.end)).await
            }
            _ => {}
        }
        // Next step of the flow, or a new flow after the last step or a failure.
        client.cursor.step += 1;
        if !step_ok || client.cursor.step == flows[client.cursor.flow].steps.len() {
            client.pick_flow(flows);
        }
    }
}

/// Open model: offers this connection to the pacer and waits for a planned
/// send time, or `None` when pacing is over. While it waits, a server that
/// closes the idle connection is noticed from the socket, and the
/// connection is dropped so the next request opens a fresh one.
async fn wait_for_plan(worker: &Worker, slot: &Rc<Slot>, client: &mut Client) -> Option<Handoff> {
    slot.idle_since.set(Some(Instant::now()));
    worker.idle.borrow_mut().push(Rc::clone(slot));
    if let Some(waker) = worker.pacer_waker.take() {
        waker.wake();
    }
    let planned = poll_fn(|cx| {
        if let Some(planned) = slot.planned.take() {
            return Poll::Ready(Some(planned));
        }
        if worker.pacing_over.get() {
            return Poll::Ready(None);
        }
        slot.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    });
    tokio::pin!(planned);
    loop {
        let Some(connection) = client.connection.as_mut() else {
            return planned.await;
        };
        tokio::select! {
            planned = &mut planned => return planned,
            () = connection.closed_by_peer() => {
                client.connection = None;
                worker.stats.borrow_mut().reconnects += 1;
            }
        }
    }
}

/// Sends the step's request and reads its answer, within the timeout
/// (counted from the planned send time) and the run's hard stop.
async fn exchange(worker: &Worker, client: &mut Client, step: &Step, planned: Instant) -> Exchange {
    let spec = &worker.spec;
    client.prepare(step, &spec.host, spec.shard);
    let timeout_at = planned + spec.load.timeout;
    // The run's hard stop, when it comes first, leaves the request unanswered.
    let deadline = timeout_at.min(worker.hard_stop);
    let gave_up = Exchange::Failed(if timeout_at > worker.hard_stop {
        ErrorKind::Unanswered
    } else {
        ErrorKind::Timeout
    });
    if client.connection.is_none() {
        match tokio::time::timeout_at(deadline, client.connect(&spec.addresses)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Exchange::Failed(ErrorKind::Connect),
            Err(_) => return gave_up,
        }
    }
    let sent = Instant::now();
    let connection = client.connection.as_mut().expect("connected above");
    let head = step.method == "HEAD";
    // A response that is there is taken, even if the deadline passed too.
    let result = tokio::select! {
        biased;
        result = connection.round_trip(&client.request, head) => result,
        () = sleep_until(deadline) => return gave_up,
    };
    let service = sent.elapsed();
    match result {
        Ok(response) => {
            let ok = !step.needs_body()
                || response.status != step.expect
                || inspect(
                    step,
                    connection.body(&response),
                    &mut client.cursor.captured,
                );
            Exchange::Response {
                status: response.status,
                ok,
                close: response.close,
                service,
            }
        }
        Err(WireError::Reset) => Exchange::Failed(ErrorKind::Reset),
        Err(WireError::Malformed) => Exchange::Failed(ErrorKind::Malformed),
    }
}
