//! The generator keeps fixed memory however many requests it sends: its
//! figures are histograms, not lists of samples, and its connections reuse
//! their buffers. Shown with a counting allocator around the engine in this
//! process: sending ten times the requests in the same time may not cost
//! more allocations, beyond a handful.
//!
//! (A run's timeline does grow, by one set of histograms per second, so
//! the runs compared last equally long.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use loadgen::engine::{self, Destination, RunSpec};
use loadgen::scenario::{self, Arrivals, Load, Model};

/// Counts every allocation made outside the test server's threads.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the test server's threads: what the server allocates is not
    /// the generator's.
    static SERVER_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if !SERVER_THREAD.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call goes to the system allocator unchanged; counting
// touches only an atomic and a const thread-local that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A keep-alive server answering every request `200 ok`, a thread per
/// connection, none of it counted.
fn serve() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        SERVER_THREAD.with(|on| on.set(true));
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                SERVER_THREAD.with(|on| on.set(true));
                answer(stream)
            });
        }
    });
    address
}

fn answer(stream: TcpStream) -> Option<()> {
    stream.set_nodelay(true).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        let mut length = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().ok()?;
            }
        }
        reader.read_exact(&mut vec![0; length]).ok()?;
        writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .ok()?;
    }
}

/// Runs the engine at `rate` for two seconds; returns the requests sent and
/// the allocations made meanwhile.
fn run(address: std::net::SocketAddr, rate: f64) -> (u64, u64) {
    let text = "name = \"ok\"\n[dataset]\nusers = 1\nproducts = 1\nstock = 1\n\
                [[flow]]\nname = \"ok\"\n[[flow.step]]\nname = \"GET /ok\"\nmethod = \"GET\"\npath = \"/ok\"\nexpect = 200\n";
    let scenario = scenario::parse(text, "allocations").unwrap();
    let load = Load {
        model: Model::Open {
            rate,
            max_inflight: 4,
            arrivals: Arrivals::Uniform,
        },
        duration: Duration::from_secs(2),
        warmup: Duration::ZERO,
        stages: None,
        ..scenario.load.clone()
    };
    let destination = Destination {
        addresses: vec![address],
        host: address.to_string(),
    };
    let spec = Arc::new(RunSpec::new(
        scenario,
        load,
        1,
        destination,
        1,
        loadgen::scenario::Shard::WHOLE,
        None,
    ));
    let (ticks, received) = mpsc::channel();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let outcome = engine::run(spec, ticks);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    drop(received);
    let requests = outcome.stats.steps.iter().map(|step| step.requests()).sum();
    (requests, allocations)
}

#[test]
fn sending_more_requests_allocates_nothing_more() {
    let address = serve();
    // Once first, so that what is set up on first use is not counted.
    run(address, 100.0);
    let (few, few_allocations) = run(address, 200.0);
    let (many, many_allocations) = run(address, 2000.0);
    assert!(
        many > 3000 && few < 500,
        "the runs sent {few} and {many} requests"
    );
    let extra = many_allocations.saturating_sub(few_allocations);
    assert!(
        extra * 100 < many - few,
        "{many} requests allocated {many_allocations} times, {few} requests {few_allocations} times: \
         {:.3} allocations per extra request",
        extra as f64 / (many - few) as f64
    );
}
