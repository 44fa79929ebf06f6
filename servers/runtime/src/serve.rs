//! Serving HTTP/1.1 on hyper with the timeouts every server shares: the
//! connection loop of the hyper and axum adapters (actix-web has its own,
//! configured with the same values).

use std::error::Error as StdError;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

/// How long a client may take to send a request's head (request line and
/// headers), counted from when the server starts waiting for it (a new
/// connection, or a keep-alive connection after its last response); then its
/// connection is closed. So it also bounds how long a keep-alive connection
/// may sit idle. The same on every server: actix-web's
/// `client_request_timeout` and `keep_alive` are set to it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

type BoxError = Box<dyn StdError + Send + Sync>;

/// How every connection is served: HTTP/1.1 with the header-read timeout.
pub fn connection_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
}

/// Serves `service` on `listener` until `shutdown` resolves; then stops
/// accepting (the listener is closed, so new connections are refused), lets
/// the requests in flight finish, closes idle keep-alive connections, and
/// returns when every connection is done or `grace` after the signal,
/// whichever comes first (logging how many connections it cut).
pub async fn http1<S, B>(
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    service: S,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let builder = connection_builder();
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        let open = OpenConnection::new(&open);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        let cut = open.load(Ordering::Relaxed);
        tracing::warn!(
            cut,
            "shutdown timeout of {grace:?} reached: cutting {cut} connection(s) still open"
        );
    }
    Ok(())
}

/// Counts a connection as open until dropped.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(open: &Arc<AtomicUsize>) -> OpenConnection {
        open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(open))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
