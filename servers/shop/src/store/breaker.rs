//! A circuit breaker over the database, shared by every call of one store.
//!
//! A call that fails because the database cannot be reached (a refused or
//! broken connection, SQLSTATE class 08, 57P01–57P03: [`StoreError::Unreachable`])
//! marks the database down. While it is down every call answers
//! `Unreachable` (503) at once, without touching the pool, and one probe
//! task opens a direct connection every [`PROBE_EVERY`] (each attempt at most
//! [`CONNECT_TIMEOUT`]); the first that succeeds marks the database up again.
//! Pooled connections made before the last trip are stale (the server that
//! made them is gone): the sqlx pool drops them on checkout
//! ([`Breaker::is_stale`]); deadpool sees their closed client, and a closed
//! client also trips the breaker. Waiting for a pooled connection ends with
//! `Unreachable` when the breaker trips ([`Breaker::unless_down`]). The hot
//! path is one atomic load.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::StoreError;

/// How often the probe tries to connect while the database is down.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long one connection attempt (the probe's, or a pool's) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Breaker {
    down: AtomicBool,
    /// Milliseconds after `epoch` of the last trip, plus one; 0 before any.
    tripped_at: AtomicU64,
    epoch: Instant,
    went_down: Notify,
    probe: tokio_postgres::Config,
}

impl Breaker {
    /// A breaker whose probe connects with `probe` (the store's own settings).
    pub fn new(mut probe: tokio_postgres::Config) -> Arc<Breaker> {
        probe.connect_timeout(CONNECT_TIMEOUT);
        Arc::new(Breaker {
            down: AtomicBool::new(false),
            tripped_at: AtomicU64::new(0),
            epoch: Instant::now(),
            went_down: Notify::new(),
            probe,
        })
    }

    fn unreachable() -> StoreError {
        StoreError::Unreachable("the database is down; waiting for it to accept connections".into())
    }

    /// `Unreachable` while the database is down.
    pub fn check(&self) -> Result<(), StoreError> {
        match self.down.load(Ordering::Acquire) {
            true => Err(Breaker::unreachable()),
            false => Ok(()),
        }
    }

    /// Runs `call` unless the database is down; trips on an `Unreachable` result.
    pub async fn run<T>(
        self: &Arc<Self>,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.check()?;
        let result = call.await;
        if let Err(StoreError::Unreachable(detail)) = &result {
            self.trip(detail);
        }
        result
    }

    /// Awaits `wait` (taking a pooled connection: safe to abandon), unless
    /// the database is or goes down first. A pool that keeps retrying to
    /// connect to a database that is gone is cut short this way.
    pub async fn unless_down<T, E: Into<StoreError>>(
        &self,
        wait: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        let went_down = self.went_down.notified();
        tokio::pin!(went_down);
        went_down.as_mut().enable();
        self.check()?;
        tokio::select! {
            result = wait => result.map_err(Into::into),
            () = went_down => Err(Breaker::unreachable()),
        }
    }

    /// Whether a pooled connection `age` old was made before the last trip.
    pub fn is_stale(&self, age: Duration) -> bool {
        let tripped_at = self.tripped_at.load(Ordering::Relaxed);
        tripped_at != 0 && {
            let since_trip = self.epoch.elapsed().as_millis() as u64 + 1 - tripped_at;
            age.as_millis() as u64 >= since_trip
        }
    }

    /// Marks the database down (if it is not already) and starts the probe.
    pub fn trip(self: &Arc<Self>, detail: &str) {
        self.tripped_at.store(
            self.epoch.elapsed().as_millis() as u64 + 1,
            Ordering::Relaxed,
        );
        if self.down.swap(true, Ordering::AcqRel) {
            return; // a probe runs already
        }
        self.went_down.notify_waiters();
        tracing::warn!(%detail, "database unreachable; answering 503 until it accepts connections");
        let breaker = Arc::clone(self);
        tokio::spawn(breaker.probe());
    }

    async fn probe(self: Arc<Self>) {
        loop {
            // Nobody left to serve: the store is gone.
            if Arc::strong_count(&self) == 1 {
                return;
            }
            let attempt =
                tokio::time::timeout(CONNECT_TIMEOUT, self.probe.connect(tokio_postgres::NoTls));
            if let Ok(Ok((client, connection))) = attempt.await {
                drop(client);
                let _ = tokio::time::timeout(CONNECT_TIMEOUT, connection).await;
                break;
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
        self.down.store(false, Ordering::Release);
        tracing::info!("database reachable again");
    }
}
