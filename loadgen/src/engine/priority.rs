//! The generator's worker threads run ahead of the server and PostgreSQL
//! when they share cores. A worker that waits for a core sends late, and
//! that lateness is the generator's, not the server's: on a machine where
//! all three share two cores, it spoils most open-model runs.
//!
//! Only the worker threads ask for the higher priority. Linux keeps the nice
//! value per thread, and a process inherits the nice value of the thread
//! that starts it: the server, PostgreSQL and pgbench are started by
//! loadgen's main thread, which keeps the priority loadgen was given, so
//! they run at theirs and the generator has the edge over them.

/// The nice value the worker threads ask for, unless `LOADGEN_NICE` says
/// another (0 to run them as loadgen was started).
const DEFAULT_NICE: i32 = -10;

/// Asks for the worker's priority for the calling thread and returns the
/// nice value it runs at: unchanged where the OS refuses (raising a
/// priority needs CAP_SYS_NICE or a raised RLIMIT_NICE), which the record
/// then shows.
pub fn raise_this_thread() -> i32 {
    let nice = std::env::var("LOADGEN_NICE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_NICE);
    // PRIO_PROCESS with no id names the calling thread on Linux.
    let _ = rustix::process::setpriority_process(None, nice);
    rustix::process::getpriority_process(None).unwrap_or(0)
}
