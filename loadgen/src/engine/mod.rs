//! The load engine: one OS thread per worker, each with its own
//! single-threaded tokio runtime owning its connections, its pacer and its
//! statistics. Nothing on the request path takes a lock, sends on a channel
//! or allocates once buffers have grown; threads report once a second for
//! the live view and hand their figures over at the end.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::{sleep_until, Instant};

pub mod http1;
pub mod schedule;

use crate::measure::stats::{new_histogram, ErrorKind, ThreadStats};
use crate::scenario::template::RenderContext;
use crate::scenario::{Flow, Load, Model, Scenario, Step};
use http1::{Connection, WireError};
use schedule::{Plan, Profile};

/// Everything the worker threads share, read-only.
pub struct RunSpec {
    pub scenario: Scenario,
    pub load: Load,
    pub threads: usize,
    pub address: SocketAddr,
    /// The `Host` header value.
    pub host: String,
    pub seed: u64,
}

impl RunSpec {
    /// Connections in all: the closed model's connections (the most any
    /// stage asks for), or the open model's cap on requests in flight.
    pub fn connections(&self) -> usize {
        match self.load.model {
            Model::Closed { connections } => match &self.load.stages {
                Some(stages) => stages
                    .iter()
                    .map(|s| s.target.ceil() as usize)
                    .max()
                    .unwrap_or(0),
                None => connections as usize,
            },
            Model::Open { max_inflight, .. } => max_inflight as usize,
        }
    }
}

/// One second of one thread, for the live view.
pub struct Tick {
    pub second: u64,
    pub responses: u64,
    pub errors: u64,
    pub in_flight: u64,
    pub latency: Histogram<u64>,
}

/// A connection idle longer than this is replaced before its next request.
const IDLE_LIMIT: Duration = Duration::from_secs(1);

/// What a run measured.
pub struct Outcome {
    pub stats: ThreadStats,
    /// CPU seconds (user + system) of each worker thread.
    pub thread_cpu: Vec<f64>,
    /// Wall time the worker threads ran.
    pub wall: Duration,
}

/// Runs the load described by `spec`, sending a [`Tick`] per thread per second.
pub fn run(spec: Arc<RunSpec>, ticks: mpsc::Sender<Tick>) -> Outcome {
    // Threads start together, a moment from now, after opening their first connections.
    let start = Instant::now() + Duration::from_millis(200);
    let handles: Vec<_> = (0..spec.threads)
        .map(|thread| {
            let spec = Arc::clone(&spec);
            let ticks = ticks.clone();
            std::thread::Builder::new()
                .name(format!("loadgen-{thread}"))
                .spawn(move || run_thread(spec, thread, start, ticks))
                .expect("spawning a worker thread")
        })
        .collect();
    drop(ticks);
    let mut stats = ThreadStats::new(spec.scenario.steps().count());
    let mut thread_cpu = Vec::new();
    for handle in handles {
        let (thread_stats, cpu) = handle.join().expect("a worker thread panicked");
        stats.merge(&thread_stats);
        thread_cpu.push(cpu);
    }
    Outcome {
        stats,
        thread_cpu,
        wall: Instant::now().saturating_duration_since(start),
    }
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
    start: Instant,
    warmup_end: Instant,
    end: Instant,
    stats: RefCell<ThreadStats>,
    interval: RefCell<Interval>,
    in_flight: Cell<u64>,
    /// Open model: idle connections waiting for a planned request.
    idle: RefCell<Vec<Rc<Slot>>>,
    /// Open model: the pacer, when it waits for an idle connection.
    pacer_waker: Cell<Option<Waker>>,
    /// Open model: the pacer has planned its last request.
    pacing_over: Cell<bool>,
}

/// The live view's figures for the current second.
struct Interval {
    responses: u64,
    errors: u64,
    latency: Histogram<u64>,
}

/// Where the pacer hands a planned send time to an idle connection.
#[derive(Default)]
struct Slot {
    planned: Cell<Option<Instant>>,
    waker: Cell<Option<Waker>>,
}

fn run_thread(
    spec: Arc<RunSpec>,
    thread: usize,
    start: Instant,
    ticks: mpsc::Sender<Tick>,
) -> (ThreadStats, f64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a worker runtime");
    let cpu_before = thread_cpu_seconds();
    let worker = Rc::new(Worker {
        start,
        warmup_end: start + spec.load.warmup,
        end: start + spec.load.total(),
        stats: RefCell::new(ThreadStats::new(spec.scenario.steps().count())),
        interval: RefCell::new(Interval {
            responses: 0,
            errors: 0,
            latency: new_histogram(),
        }),
        in_flight: Cell::new(0),
        idle: RefCell::new(Vec::new()),
        pacer_waker: Cell::new(None),
        pacing_over: Cell::new(false),
        spec,
    });
    let local = tokio::task::LocalSet::new();
    let total = worker.spec.connections();
    let threads = worker.spec.threads;
    // Connection `i` of the run belongs to thread `i % threads`.
    let mine: Vec<usize> = (thread..total).step_by(threads).collect();
    let open = matches!(worker.spec.load.model, Model::Open { .. });
    local.block_on(&runtime, async {
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
            tasks.push(tokio::task::spawn_local(pacer(
                Rc::clone(&worker),
                Plan::new(&worker.spec.load, thread, threads),
            )));
        }
        tasks.push(tokio::task::spawn_local(ticker(Rc::clone(&worker), ticks)));
        for task in tasks {
            task.await.expect("a worker task panicked");
        }
    });
    let stats = worker.stats.replace(ThreadStats::new(0));
    (stats, thread_cpu_seconds() - cpu_before)
}

/// Sends one tick per second until the end of the run.
async fn ticker(worker: Rc<Worker>, ticks: mpsc::Sender<Tick>) {
    let mut second = 1;
    loop {
        let at = worker.start + Duration::from_secs(second);
        let last = at >= worker.end;
        sleep_until(at.min(worker.end)).await;
        let interval = worker.interval.replace(Interval {
            responses: 0,
            errors: 0,
            latency: new_histogram(),
        });
        let tick = Tick {
            second,
            responses: interval.responses,
            errors: interval.errors,
            in_flight: worker.in_flight.get(),
            latency: interval.latency,
        };
        if ticks.send(tick).is_err() || last {
            return;
        }
        second += 1;
    }
}

/// Open model: hands each planned request to an idle connection at its
/// planned time; when none is idle, the request waits (and is late) until
/// one is. Latency counts from the plan either way.
async fn pacer(worker: Rc<Worker>, plan: Plan) {
    let start = worker.start;
    let mut k = 0;
    while let Some(offset) = plan.planned(k) {
        let planned = start + Duration::from_secs_f64(offset);
        if planned >= worker.end {
            break;
        }
        // Tokio's timers fire on millisecond ticks, at or after the deadline:
        // wake a tick early and yield until the planned instant, so requests
        // leave on plan and timer lag does not pass for server latency.
        sleep_until(
            planned
                .checked_sub(Duration::from_millis(1))
                .unwrap_or(planned),
        )
        .await;
        while Instant::now() < planned {
            tokio::task::yield_now().await;
        }
        let slot = poll_fn(|cx| match worker.idle.borrow_mut().pop() {
            Some(slot) => Poll::Ready(Some(slot)),
            None if Instant::now() >= worker.end => Poll::Ready(None),
            None => {
                worker.pacer_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        });
        // A wake-up at the end of the run: idle connections never came back.
        let slot = tokio::select! {
            slot = slot => slot,
            () = sleep_until(worker.end) => None,
        };
        let Some(slot) = slot else { break };
        let now = Instant::now();
        if planned >= worker.warmup_end {
            let late = now.saturating_duration_since(planned).as_micros() as u64;
            worker
                .stats
                .borrow_mut()
                .lateness
                .saturating_record(late.max(1));
        }
        slot.planned.set(Some(planned));
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
        k += 1;
    }
    // Planned (after the warm-up, before the end) but never sent: every
    // connection was busy until the run ended.
    let counted_from = plan.planned_before(worker.spec.load.warmup.as_secs_f64());
    let planned = plan.planned_before(worker.spec.load.total().as_secs_f64());
    let sent = k.max(counted_from);
    worker.stats.borrow_mut().unsent += planned.saturating_sub(sent);
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
    /// When the connection last finished a request.
    idle_since: Instant,
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
    fn prepare(&mut self, step: &Step, host: &str) {
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
        };
        request.clear();
        request.extend_from_slice(step.method.as_bytes());
        request.push(b' ');
        step.path.render(request, &mut context);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        request.extend_from_slice(host.as_bytes());
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(&step.headers);
        match &step.body {
            Some(template) => {
                body.clear();
                template.render(body, &mut context);
                request.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
                let _ = std::io::Write::write_fmt(request, format_args!("{}", body.len()));
                request.extend_from_slice(b"\r\n\r\n");
                request.extend_from_slice(body);
            }
            None => request.extend_from_slice(b"\r\n"),
        }
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

enum Exchange {
    Response { status: u16, ok: bool, close: bool },
    Failed(ErrorKind),
    RunEnded,
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
        idle_since: Instant::now(),
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
    if closed_profile.is_some() {
        // Open the connection before the clock starts, as wrk does.
        client.connection = Connection::connect(spec.address).await.ok();
        sleep_until(worker.start).await;
    }
    loop {
        // When to send, by the plan (open) or now (closed).
        let planned = match &slot {
            Some(slot) => {
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
                match planned.await {
                    Some(planned) => planned,
                    None => return,
                }
            }
            None => {
                let now = Instant::now();
                if now >= worker.end {
                    return;
                }
                let profile = closed_profile.as_ref().expect("closed model");
                let active = profile
                    .at(now.saturating_duration_since(worker.start).as_secs_f64())
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
        let counted = planned >= worker.warmup_end;
        worker.in_flight.set(worker.in_flight.get() + 1);
        let (outcome, sent) = exchange(&worker, &mut client, step).await;
        worker.in_flight.set(worker.in_flight.get() - 1);
        let done = Instant::now();

        let step_ok = {
            let mut stats = worker.stats.borrow_mut();
            if !counted {
                stats.warmup_requests += 1;
            }
            match outcome {
                Exchange::RunEnded => {
                    if counted {
                        stats.in_flight_at_end += 1;
                    }
                    return;
                }
                Exchange::Response { status, ok, close } => {
                    if close {
                        client.connection = None;
                        stats.reconnects += 1;
                    }
                    let corrected = done.saturating_duration_since(planned).as_micros() as u64;
                    let failed = match (status == step.expect, ok) {
                        (false, _) => Some(ErrorKind::Status),
                        (true, false) => Some(ErrorKind::Check),
                        (true, true) => None,
                    };
                    // The live view shows the warm-up too; the figures do not.
                    let mut interval = worker.interval.borrow_mut();
                    interval.responses += 1;
                    interval.errors += u64::from(failed.is_some());
                    interval.latency.saturating_record(corrected.max(1));
                    if counted {
                        let step_stats = &mut stats.steps[step.id];
                        let uncorrected = done.saturating_duration_since(sent).as_micros() as u64;
                        step_stats.record_latency(corrected, uncorrected);
                        step_stats.record_status(status);
                        if let Some(kind) = failed {
                            step_stats.record_error(kind);
                        }
                    }
                    failed.is_none()
                }
                Exchange::Failed(kind) => {
                    client.connection = None;
                    if kind != ErrorKind::Connect {
                        stats.reconnects += 1;
                    }
                    worker.interval.borrow_mut().errors += 1;
                    if counted {
                        stats.steps[step.id].record_error(kind);
                    }
                    false
                }
            }
        };
        if let Exchange::Failed(ErrorKind::Connect) = outcome {
            // Do not spin against a port that refuses connections.
            sleep_until((Instant::now() + Duration::from_millis(10)).min(worker.end)).await;
        }
        // Next step of the flow, or a new flow after the last step or a failure.
        client.cursor.step += 1;
        if !step_ok || client.cursor.step == flows[client.cursor.flow].steps.len() {
            client.pick_flow(flows);
        }
    }
}

/// Sends the step's request and reads its answer, within the timeout and
/// the end of the run. Returns the outcome and when the request went out.
async fn exchange(worker: &Worker, client: &mut Client, step: &Step) -> (Exchange, Instant) {
    let spec = &worker.spec;
    let timeout = spec.load.timeout;
    client.prepare(step, &spec.host);
    let deadline = Instant::now() + timeout;
    if client.connection.is_some() && client.idle_since.elapsed() > IDLE_LIMIT {
        // Servers close idle keep-alive connections (actix-web after 5 s); a
        // request written into one that is closing would fail for the
        // generator's sake, not the server's. Open a fresh one instead.
        client.connection = None;
        worker.stats.borrow_mut().reconnects += 1;
    }
    if client.connection.is_none() {
        let connect =
            tokio::time::timeout_at(deadline.min(worker.end), Connection::connect(spec.address));
        match connect.await {
            Ok(Ok(connection)) => client.connection = Some(connection),
            Ok(Err(_)) => return (Exchange::Failed(ErrorKind::Connect), Instant::now()),
            Err(_) if Instant::now() >= worker.end => return (Exchange::RunEnded, Instant::now()),
            Err(_) => return (Exchange::Failed(ErrorKind::Timeout), Instant::now()),
        }
    }
    let sent = Instant::now();
    let connection = client.connection.as_mut().expect("connected above");
    let head = step.method == "HEAD";
    let result = tokio::select! {
        result = connection.round_trip(&client.request, head) => result,
        () = sleep_until(deadline) => return (Exchange::Failed(ErrorKind::Timeout), sent),
        () = sleep_until(worker.end) => return (Exchange::RunEnded, sent),
    };
    client.idle_since = Instant::now();
    let outcome = match result {
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
            }
        }
        Err(WireError::Reset) => Exchange::Failed(ErrorKind::Reset),
        Err(WireError::Malformed) => Exchange::Failed(ErrorKind::Malformed),
    };
    (outcome, sent)
}
