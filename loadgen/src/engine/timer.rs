//! A timer precise to microseconds for the open model's pacer.
//!
//! Tokio's timers fire on millisecond ticks, after the deadline: paced with
//! them, requests leave up to a millisecond late, and that lateness would be
//! counted as the server's latency. Spinning until the deadline instead
//! burns a core at any rate. A `timerfd` armed for the exact deadline, with
//! the thread's timer slack cut to a microsecond, wakes the thread within a
//! few microseconds of it through the same epoll loop as the sockets: no
//! busy-waiting and no millisecond rounding.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// Closer than this to the deadline, yielding to the runtime until it
/// passes costs less than arming the timer (two system calls and a wake-up).
const SPIN_WINDOW: Duration = Duration::from_micros(20);

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

pub struct PreciseTimer {
    fd: AsyncFd<Fd>,
}

impl PreciseTimer {
    /// A timer for the calling thread's runtime; also cuts the thread's
    /// timer slack (50 µs by default) so wake-ups are not deferred.
    pub fn new() -> io::Result<PreciseTimer> {
        let _ = nix::sys::prctl::set_timerslack(1_000);
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: the timer's descriptor is owned by the `Fd` that the
        // `AsyncFd` owns, so it stays open, and the same, until it is dropped.
        let fd = unsafe { AsyncFd::register(Fd(timer)) }?;
        Ok(PreciseTimer { fd })
    }

    /// Returns at `deadline` or just after it; at once if it has passed.
    pub async fn sleep_until(&mut self, deadline: Instant) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let remaining = deadline - now;
            if remaining <= SPIN_WINDOW {
                tokio::task::yield_now().await;
                continue;
            }
            self.fd.get_ref().0.set(
                Expiration::OneShot(TimeSpec::from_duration(remaining)),
                TimerSetTimeFlags::empty(),
            )?;
            // Arming the timer resets its expiration count, so the count is
            // never read: a system call less per wake-up. Readiness is
            // cleared by hand for the next edge.
            self.fd.readable().await?.clear_ready();
        }
    }
}
