//! The generator's worker threads run ahead of the server and PostgreSQL
//! when they share cores. A worker that waits for a core sends late, and
//! that lateness is the generator's, not the server's: on a machine where
//! all three share two cores, it spoils most open-model runs.
//!
//! A worker asks for the lowest real-time priority (SCHED_FIFO 1): it then
//! runs as soon as it wakes, ahead of every ordinary process. A nice value
//! is not enough: the kernel lets a running task finish its time slice
//! before a woken one of higher weight takes the core, and on a busy
//! machine that is milliseconds (docs/loadgen.md has the measurement). A
//! worker uses a few percent of a core at the rates it keeps up with, and
//! the kernel keeps a share of every second for ordinary processes whatever
//! real-time threads do.
//!
//! Only the worker threads ask, and the request is not inherited
//! (SCHED_RESET_ON_FORK): the server, PostgreSQL and pgbench are started by
//! loadgen's main thread and run as loadgen was started.

use crate::measure::record::Priority;

/// The nice value a worker asks for where it may not run in real time.
const NICE: i32 = -10;

/// What `LOADGEN_PRIORITY` may ask for; the first is the default.
pub const CHOICES: [&str; 3] = ["realtime", "nice", "unchanged"];

/// The choice `LOADGEN_PRIORITY` makes, or why it is not one.
pub fn chosen() -> Result<&'static str, String> {
    match std::env::var("LOADGEN_PRIORITY") {
        Err(_) => Ok(CHOICES[0]),
        Ok(value) => CHOICES.into_iter().find(|c| *c == value).ok_or(format!(
            "LOADGEN_PRIORITY={value:?} is not one of {}",
            CHOICES.join(", ")
        )),
    }
}

/// Raises the calling thread's priority as `LOADGEN_PRIORITY` asks, each
/// step falling back to the next where the OS refuses (both need
/// CAP_SYS_NICE, or raised RLIMIT_RTPRIO/RLIMIT_NICE): real time, then
/// nice -10, then unchanged. Returns what the thread got.
pub fn raise_this_thread() -> Priority {
    let choice = chosen().unwrap_or(CHOICES[0]);
    if choice == "realtime" && realtime().is_ok() {
        return Priority::Realtime;
    }
    if choice != "unchanged" {
        // PRIO_PROCESS with no id names the calling thread on Linux.
        let _ = rustix::process::setpriority_process(None, NICE);
    }
    Priority::Nice(rustix::process::getpriority_process(None).unwrap_or(0))
}

/// SCHED_FIFO at priority 1 for the calling thread, not passed on to the
/// processes it starts.
fn realtime() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: the call only reads `param`, which outlives it; pid 0 names
    // the calling thread.
    let result = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
