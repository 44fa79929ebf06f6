//! The stackbench API on actix-web: an `App` of resources, extractors that
//! hand the raw request pieces to `shop`, and one `ResponseError` for
//! `shop`'s errors.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Payload, Service};
use actix_web::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{
    guard, App, FromRequest, HttpRequest, HttpResponse, HttpServer, Resource, ResponseError,
};
use futures_util::future::{ready, LocalBoxFuture, Ready};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use server_runtime::AppState;
use shop::http::{self as contract, ListQuery, MAX_BODY_BYTES};
use shop::model::{NewOrder, NewProduct, NewUser, ProductPatch, UserPatch, Validate};
use shop::ApiError;

/// Serves the API on `listener` with `state.workers` actix workers until
/// `shutdown` resolves, then finishes the requests in flight.
///
/// Each worker runs its own single-threaded runtime, so each gets a pool of
/// its own ([`AppState::own_pool`]): its connections' I/O then runs on the
/// worker that uses them.
///
/// Shutdown drains every worker before stopping any: actix-server stops an
/// idle worker at once, and its thread drops that worker's tokio runtime
/// with every task spawned on it, such as the store's detached writes, which
/// may still be settling a request another worker answered. So on the signal the server stops accepting (`pause`), answers
/// every request from then on with `Connection: close`, waits until no
/// request is in flight on any worker (or `state.shutdown_timeout` has
/// passed), and only then stops all workers at once, closing the idle
/// keep-alive connections.
pub async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let workers = state.workers;
    let grace = state.shutdown_timeout;
    let drain = Arc::new(Drain::default());
    let started = Arc::new(AtomicUsize::new(0));
    let server = HttpServer::new({
        let drain = Arc::clone(&drain);
        move || {
            let drain = Arc::clone(&drain);
            let worker = started.fetch_add(1, Ordering::Relaxed);
            let state = state.own_pool(worker, workers).unwrap_or_else(|error| {
                tracing::warn!(%error, "worker {worker} shares the first pool: cannot open its own");
                state.clone()
            });
            App::new()
                .app_data(Data::new(state))
                .configure(api)
                .wrap_fn(move |request, service| {
                    let in_flight = InFlight::new(&drain);
                    let response = service.call(request);
                    async move {
                        let mut response = response.await?;
                        if in_flight.0.stopping.load(Ordering::SeqCst) {
                            response
                                .response_mut()
                                .head_mut()
                                .set_connection_type(ConnectionType::Close);
                        }
                        Ok(response)
                    }
                })
        }
    })
    .workers(workers)
    // The same header-read timeout as hyper and axum: for the first request
    // (`client_request_timeout`) and between requests (`keep_alive`).
    .client_request_timeout(server_runtime::serve::HEADER_READ_TIMEOUT)
    .keep_alive(server_runtime::serve::HEADER_READ_TIMEOUT)
    // Signals are the launcher's job: it resolves `shutdown` on SIGINT/SIGTERM.
    .disable_signals()
    // Used only if actix stops gracefully by itself; `serve` drains, then forces.
    .shutdown_timeout(grace.as_secs_f64().ceil() as u64)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.await;
        drain.stopping.store(true, Ordering::SeqCst);
        handle.pause().await;
        let deadline = tokio::time::Instant::now() + grace;
        while drain.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let cut = drain.in_flight.load(Ordering::SeqCst);
        if cut > 0 {
            tracing::warn!(
                cut,
                "shutdown timeout of {grace:?} reached: cutting {cut} request(s) still in flight"
            );
        }
        // Nothing is in flight: stop every worker at once, closing idle connections.
        handle.stop(false).await;
    });
    server.await
}

/// Requests in flight on all workers, and whether the server is stopping.
#[derive(Default)]
struct Drain {
    in_flight: AtomicUsize,
    stopping: AtomicBool,
}

/// Counts a request as in flight until dropped (answered, or dropped by
/// actix when its client hangs up).
struct InFlight(Arc<Drain>);

impl InFlight {
    fn new(drain: &Arc<Drain>) -> InFlight {
        drain.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(drain))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The API's routes and its answer to every other path: the `App` of every
/// worker (and of the micro-benchmarks) is this with the state.
pub fn api(config: &mut ServiceConfig) {
    config
        .default_service(web::to(no_route))
        .service(resource("/health").route(get().to(health)))
        .service(resource("/health/db").route(get().to(health_db)))
        .service(
            resource("/users")
                .route(get().to(list_users))
                .route(web::post().to(create_user)),
        )
        .service(
            resource("/users/{id}")
                .route(get().to(get_user))
                .route(web::patch().to(update_user))
                .route(web::delete().to(delete_user)),
        )
        .service(resource("/users/{id}/orders").route(get().to(list_user_orders)))
        .service(
            resource("/products")
                .route(get().to(list_products))
                .route(web::post().to(create_product)),
        )
        .service(
            resource("/products/{id}")
                .route(get().to(get_product))
                .route(web::patch().to(update_product))
                .route(web::delete().to(delete_product)),
        )
        .service(resource("/orders").route(web::post().to(create_order)))
        .service(resource("/orders/{id}").route(get().to(get_order)))
        .service(resource("/orders/{id}/cancel").route(web::post().to(cancel_order)));
}

/// A GET route that answers HEAD too (actix-web sends no body for HEAD).
fn get() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// A resource whose other methods answer 405 with the contract's `Allow`.
fn resource(path: &'static str) -> Resource {
    let allow = contract::allowed_methods(path);
    web::resource(path).default_service(web::to(move |request: HttpRequest| async move {
        Error(ApiError::method_not_allowed(
            request.method().as_str(),
            allow,
        ))
    }))
}

/// `shop`'s error as an actix response.
#[derive(Debug)]
pub struct Error(ApiError);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<ApiError>> From<E> for Error {
    fn from(error: E) -> Error {
        Error(error.into())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        // actix-web is on the `http` crate's 0.2 line, shop on 1.x.
        StatusCode::from_u16(self.0.status().as_u16()).expect("a status is a valid status")
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(allow) = self.0.allow() {
            response.insert_header((ALLOW, allow));
        }
        response
            .content_type(contract::JSON_CONTENT_TYPE)
            .body(self.0.to_json())
    }
}

impl actix_web::Responder for Error {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

type Result<T = HttpResponse> = std::result::Result<T, Error>;

fn ok<T: Serialize>(value: &T) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(contract::JSON_CONTENT_TYPE)
        .body(contract::to_json(value))
}

fn created<T: Serialize>(location: String, value: &T) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((LOCATION, location))
        .content_type(contract::JSON_CONTENT_TYPE)
        .body(contract::to_json(value))
}

/// A resource id from the path.
struct Id(i64);

impl FromRequest for Id {
    type Error = Error;
    type Future = Ready<Result<Id>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let segment = request.match_info().get("id").unwrap_or_default();
        ready(contract::parse_id(segment).map(Id).map_err(Error))
    }
}

/// `limit`, `offset` and `category` from the query string.
struct Query(ListQuery);

impl FromRequest for Query {
    type Error = Error;
    type Future = Ready<Result<Query>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            ListQuery::parse(Some(request.query_string()))
                .map(Query)
                .map_err(Error),
        )
    }
}

/// A validated JSON body, read and parsed by `shop`'s rules.
struct Json<T>(T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for Json<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Json<T>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = request.headers();
        let checked = contract::check_json_headers(
            headers.get(CONTENT_TYPE).map(|v| v.as_bytes()),
            headers.get(CONTENT_LENGTH).map(|v| v.as_bytes()),
        );
        let mut payload = payload.take();
        Box::pin(async move {
            checked?;
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|error| {
                    ApiError::bad_request(format!("could not read the body: {error}"))
                })?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::payload_too_large().into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Json(contract::parse_json(&body)?))
        })
    }
}

async fn no_route(request: HttpRequest) -> Error {
    Error(ApiError::no_route(
        request.method().as_str(),
        &contract::routing_path(request.path()),
    ))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(contract::JSON_CONTENT_TYPE)
        .body(contract::HEALTH_OK)
}

async fn health_db(state: Data<AppState>) -> Result {
    state.store.ping().await?;
    Ok(health().await)
}

async fn create_user(state: Data<AppState>, Json(user): Json<NewUser>) -> Result {
    let user = state.store.create_user(&user).await?;
    Ok(created(format!("/users/{}", user.id), &user))
}

async fn get_user(state: Data<AppState>, Id(id): Id) -> Result {
    Ok(ok(&state.store.get_user(id).await?))
}

async fn list_users(state: Data<AppState>, Query(query): Query) -> Result {
    Ok(ok(&state.store.list_users(query.page).await?))
}

async fn update_user(state: Data<AppState>, Id(id): Id, Json(patch): Json<UserPatch>) -> Result {
    Ok(ok(&state.store.update_user(id, &patch).await?))
}

async fn delete_user(state: Data<AppState>, Id(id): Id) -> Result {
    state.store.delete_user(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_user_orders(state: Data<AppState>, Id(id): Id, Query(query): Query) -> Result {
    Ok(ok(&state.store.list_user_orders(id, query.page).await?))
}

async fn create_product(state: Data<AppState>, Json(product): Json<NewProduct>) -> Result {
    let product = state.store.create_product(&product).await?;
    Ok(created(format!("/products/{}", product.id), &product))
}

async fn get_product(state: Data<AppState>, Id(id): Id) -> Result {
    Ok(ok(&state.store.get_product(id).await?))
}

async fn list_products(state: Data<AppState>, Query(query): Query) -> Result {
    let products = state
        .store
        .list_products(query.category.as_deref(), query.page)
        .await?;
    Ok(ok(&products))
}

async fn update_product(
    state: Data<AppState>,
    Id(id): Id,
    Json(patch): Json<ProductPatch>,
) -> Result {
    Ok(ok(&state.store.update_product(id, &patch).await?))
}

async fn delete_product(state: Data<AppState>, Id(id): Id) -> Result {
    state.store.delete_product(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn create_order(state: Data<AppState>, Json(order): Json<NewOrder>) -> Result {
    let order = state.store.create_order(&order).await?;
    Ok(created(format!("/orders/{}", order.id), &order))
}

async fn get_order(state: Data<AppState>, Id(id): Id) -> Result {
    Ok(ok(&state.store.get_order(id).await?))
}

async fn cancel_order(state: Data<AppState>, Id(id): Id) -> Result {
    Ok(ok(&state.store.cancel_order(id).await?))
}
