//! Each server's request path in process: routing, extraction, validation,
//! the handler and the response, up to and back from the (stub) store.
//! hyper is driven over an in-memory stream (its `Incoming` body exists
//! only on a connection), axum through `tower::ServiceExt::oneshot`, actix
//! through `actix_web::test::call_service`: each the way its own tests do.

use std::hint::black_box;

use actix_service::boxed::BoxService;
use actix_web::dev::ServiceResponse;
use actix_web::web::Data;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tower::ServiceExt;

use crate::stub_state;

/// One request of the benchmarks, in the three forms the servers take it.
#[derive(Clone, Copy)]
pub struct Call {
    pub method: &'static str,
    pub path: &'static str,
    pub body: &'static [u8],
}

pub const HEALTH: Call = Call {
    method: "GET",
    path: "/health",
    body: b"",
};

pub const PLACE_ORDER: Call = Call {
    method: "POST",
    path: "/orders",
    body: crate::NEW_ORDER_JSON,
};

impl Call {
    /// The request as it arrives on a keep-alive connection.
    pub fn wire(&self) -> Vec<u8> {
        let mut request = format!(
            "{} {} HTTP/1.1\r\nhost: 127.0.0.1:3000\r\n",
            self.method, self.path
        );
        if !self.body.is_empty() {
            request.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                self.body.len()
            ));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(self.body);
        bytes
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The hyper server on one keep-alive connection over an in-memory stream,
/// configured as `server_runtime::serve` configures every connection.
pub struct Hyper {
    runtime: tokio::runtime::Runtime,
    client: DuplexStream,
    request: Vec<u8>,
    response: Vec<u8>,
}

impl Hyper {
    /// Connects, and sends `call` once to learn its response's length (the
    /// same every time: the stub store and the `Date` header's fixed width).
    pub fn new(call: Call) -> Hyper {
        let runtime = runtime();
        let (client, server) = tokio::io::duplex(256 * 1024);
        let service = stackbench_hyper::service(stub_state());
        runtime.spawn(
            server_runtime::serve::connection_builder()
                .serve_connection(TokioIo::new(server), service),
        );
        let mut hyper = Hyper {
            runtime,
            client,
            request: call.wire(),
            response: Vec::new(),
        };
        let length = hyper
            .runtime
            .block_on(first_response(&mut hyper.client, &hyper.request));
        hyper.response = vec![0; length];
        hyper
    }

    /// One request and its whole response.
    #[inline(never)]
    pub fn round_trip(&mut self) -> usize {
        self.runtime.block_on(exchange(
            &mut self.client,
            black_box(&self.request),
            &mut self.response,
        ))
    }
}

async fn exchange(client: &mut DuplexStream, request: &[u8], response: &mut [u8]) -> usize {
    client.write_all(request).await.expect("the server reads");
    client
        .read_exact(response)
        .await
        .expect("the server answers")
}

/// Reads the first response by its `content-length`: its whole length.
async fn first_response(client: &mut DuplexStream, request: &[u8]) -> usize {
    client.write_all(request).await.expect("the server reads");
    let mut received = Vec::new();
    loop {
        let mut chunk = [0; 4096];
        let n = client.read(&mut chunk).await.expect("the server answers");
        assert!(n > 0, "the server closed the connection");
        received.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_length) =
            head.parse(&received).expect("a valid response")
        {
            let body_length: usize = head
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .expect("a content-length");
            if received.len() >= head_length + body_length {
                assert_eq!(received.len(), head_length + body_length);
                return received.len();
            }
        }
    }
}

/// The axum `Router` (with the path rewrite of `stackbench_axum::serve`).
pub struct Axum {
    runtime: tokio::runtime::Runtime,
    app: stackbench_axum::App<Body>,
    call: Call,
}

impl Axum {
    pub fn new(call: Call) -> Axum {
        Axum {
            runtime: runtime(),
            app: stackbench_axum::app(stub_state()),
            call,
        }
    }

    #[inline(never)]
    pub fn round_trip(&mut self) -> usize {
        self.runtime
            .block_on(axum_call(self.app.clone(), black_box(self.call)))
    }
}

async fn axum_call(app: stackbench_axum::App<Body>, call: Call) -> usize {
    let mut request = axum::http::Request::builder()
        .method(call.method)
        .uri(call.path)
        .header("host", "127.0.0.1:3001");
    if !call.body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(Body::from(call.body))
        .expect("a valid request");
    let response = app.oneshot(request).await.expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    body.len()
}

/// The actix-web `App` as every worker builds it, behind a box: its test
/// service's type cannot be named.
pub struct Actix {
    system: actix_web::rt::SystemRunner,
    app: BoxService<actix_http::Request, ServiceResponse, actix_web::Error>,
    call: Call,
}

impl Actix {
    pub fn new(call: Call) -> Actix {
        let system = actix_web::rt::System::new();
        let app = system.block_on(actix_web::test::init_service(
            actix_web::App::new()
                .app_data(Data::new(stub_state()))
                .configure(stackbench_actix::api),
        ));
        Actix {
            system,
            app: actix_service::boxed::service(app),
            call,
        }
    }

    #[inline(never)]
    pub fn round_trip(&mut self) -> usize {
        self.system
            .block_on(actix_call(&self.app, black_box(self.call)))
    }
}

async fn actix_call(
    app: &BoxService<actix_http::Request, ServiceResponse, actix_web::Error>,
    call: Call,
) -> usize {
    let mut request = actix_web::test::TestRequest::default()
        .method(call.method.parse().expect("a method"))
        .uri(call.path)
        .insert_header(("host", "127.0.0.1:3002"));
    if !call.body.is_empty() {
        request = request
            .insert_header(("content-type", "application/json"))
            .set_payload(call.body);
    }
    let response = actix_web::test::call_service(app, request.to_request()).await;
    assert!(response.status().is_success(), "{}", response.status());
    actix_web::test::read_body(response).await.len()
}
