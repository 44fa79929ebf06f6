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
//! `Unreachable` when the breaker trips ([`Breaker::unless_down`]), and a
//! wait that lasts is itself a reason to look: sqlx's pool retries a refused
//! connection, without a word, until its timeout, so with no connection
//! left in the pool no call would fail and trip the breaker; the waiters
//! therefore try to connect themselves, one attempt every [`PROBE_EVERY`]
//! among all of them, and a database that cannot be reached trips it. The
//! hot path is one atomic load.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::StoreError;

/// How often the probe tries to connect while the database is down.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long one connection attempt (the probe's, or a pool's) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What one connection attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Connected,
    /// The server answered, and refused the login.
    LoginRefused,
    /// Nothing listens where the database should (the connection was
    /// refused), or it is starting or shutting down.
    Unreachable,
    /// No answer in time, or another failure: the database may be down or
    /// only slow.
    NoAnswer,
}

/// Whether the attempt failed because nothing listens: the connection was
/// refused, or the Unix socket is not there.
fn refused(error: &tokio_postgres::Error) -> bool {
    let io = std::error::Error::source(error).and_then(|e| e.downcast_ref::<std::io::Error>());
    io.is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
        )
    })
}

pub struct Breaker {
    down: AtomicBool,
    /// Milliseconds after `epoch` of the last trip, plus one; 0 before any.
    tripped_at: AtomicU64,
    /// Milliseconds after `epoch` of the last check made by a waiter for
    /// the pool, plus one; 0 before any.
    checked_at: AtomicU64,
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
            checked_at: AtomicU64::new(0),
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
    /// the database is or goes down first, or is found unreachable while
    /// the wait lasts. A pool that keeps retrying to connect to a database
    /// that is gone is cut short this way.
    pub async fn unless_down<T, E: Into<StoreError>>(
        self: &Arc<Self>,
        wait: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        let went_down = self.went_down.notified();
        tokio::pin!(went_down);
        went_down.as_mut().enable();
        self.check()?;
        // In this order: a connection at hand is taken at once, and the
        // watch (a timer) only starts when the wait does not end at once.
        tokio::select! {
            biased;
            result = wait => result.map_err(Into::into),
            () = went_down => Err(Breaker::unreachable()),
            () = self.watch() => Err(Breaker::unreachable()),
        }
    }

    /// Returns once a check made while waiting found nothing listening
    /// where the database should be, and tripped the breaker; every
    /// [`PROBE_EVERY`] of the wait, the first waiter to find no check made
    /// in that time makes one.
    async fn watch(self: &Arc<Self>) {
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            if self.claim_check() && self.attempt().await == Attempt::Unreachable {
                self.trip("a wait for a pooled connection outlasted a failed connection attempt");
                return;
            }
        }
    }

    /// Whether the caller makes the next check: none began in the last
    /// [`PROBE_EVERY`].
    fn claim_check(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.checked_at.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= PROBE_EVERY.as_millis() as u64)
            && (self.checked_at)
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// One connection attempt of at most [`CONNECT_TIMEOUT`], closed again.
    async fn attempt(&self) -> Attempt {
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, self.probe.connect(NoTls));
        match attempt.await {
            Ok(Ok((client, connection))) => {
                drop(client);
                let _ = tokio::time::timeout(CONNECT_TIMEOUT, connection).await;
                Attempt::Connected
            }
            // A server that answers is up, unless it answers that it is
            // starting or shutting down; one that refuses a login (too many
            // connections, a password) is up all the same.
            Ok(Err(error)) => match error.as_db_error().map(|db| db.code()) {
                Some(code) if *code == SqlState::CANNOT_CONNECT_NOW => Attempt::Unreachable,
                Some(_) => Attempt::LoginRefused,
                None if refused(&error) => Attempt::Unreachable,
                None => Attempt::NoAnswer,
            },
            // A slow answer is no proof of a database gone: an overloaded
            // one answers slowly too, and tripping would fail every waiter.
            Err(_elapsed) => Attempt::NoAnswer,
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
            if self.attempt().await == Attempt::Connected {
                break;
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
        self.down.store(false, Ordering::Release);
        tracing::info!("database reachable again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::POOL_TIMEOUT;

    /// sqlx's pool, with no connection left and the database gone, retries
    /// its connections without a word until its timeout: to the caller, a
    /// wait that does not end. The waiter's own check finds the database
    /// unreachable and ends the wait with `Unreachable` (503) within a
    /// check or two, not at the pool's timeout, and trips the breaker.
    #[tokio::test]
    async fn a_silent_wait_for_the_pool_ends_when_the_database_is_unreachable() {
        let port = schema::free_port(None).unwrap();
        let gone = format!("postgres://nobody@127.0.0.1:{port}/none");
        let breaker = Breaker::new(gone.parse().unwrap());
        let started = Instant::now();
        let silent = std::future::pending::<Result<(), StoreError>>();
        let waited = tokio::time::timeout(POOL_TIMEOUT, breaker.unless_down(silent))
            .await
            .expect("waited out the pool's timeout");
        assert!(
            matches!(waited, Err(StoreError::Unreachable(_))),
            "{waited:?}"
        );
        assert!(
            started.elapsed() < 3 * PROBE_EVERY,
            "{:?}",
            started.elapsed()
        );
        assert!(breaker.check().is_err(), "not tripped");
    }

    /// Against a database that answers, a long wait is the pool's to end:
    /// the checks made meanwhile connect, and trip nothing.
    #[tokio::test]
    async fn a_long_wait_for_the_pool_of_a_reachable_database_is_left_alone() {
        let database = schema::testing::TestDatabase::create().await.unwrap();
        let breaker = Breaker::new(database.url.parse().unwrap());
        let busy = async {
            tokio::time::sleep(4 * PROBE_EVERY).await;
            Ok::<_, StoreError>(())
        };
        let waited = breaker.unless_down(busy).await;
        assert!(waited.is_ok(), "{waited:?}");
        assert_ne!(
            breaker.checked_at.load(Ordering::Relaxed),
            0,
            "no check made"
        );
        assert!(breaker.check().is_ok(), "tripped");
    }
}
