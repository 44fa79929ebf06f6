//! The stackbench API on axum: a `Router`, extractors that hand the raw
//! request pieces to `shop`, and one `IntoResponse` for `shop`'s errors.

use std::future::Future;

use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::service::TowerToHyperService;
use serde::de::DeserializeOwned;
use serde::Serialize;
use server_runtime::AppState;
use shop::http::{self as contract, ListQuery, MAX_BODY_BYTES};
use shop::model::{NewOrder, NewProduct, NewUser, ProductPatch, UserPatch, Validate};
use shop::ApiError;
use tower::ServiceExt;

/// Serves the API on `listener` until `shutdown` resolves, then finishes
/// the requests in flight (within `state.shutdown_timeout`).
///
/// The `Router` is served through `server_runtime::serve::http1`, hyper-util's
/// connection loop shared with the hyper adapter, rather than `axum::serve`:
/// axum 0.8's `serve` exposes neither a header-read timeout nor a deadline
/// for its graceful shutdown.
pub async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.shutdown_timeout;
    let service = TowerToHyperService::new(app(state));
    server_runtime::serve::http1(listener, shutdown, grace, service).await
}

/// The `Router` behind the path rewrite, for requests with bodies of type `B`.
pub type App<B> =
    tower::util::MapRequest<Router, fn(axum::http::Request<B>) -> axum::http::Request<B>>;

/// The API as `serve` runs it (and the micro-benchmarks call it).
pub fn app<B>(state: AppState) -> App<B>
where
    Router: tower::Service<axum::http::Request<B>>,
{
    router(state).map_request(with_routing_path::<B>)
}

/// The request with its path as `shop` routes it (see
/// `shop::http::routing_path`): the `Router` matches the URI as it is, so
/// the URI is rewritten before it sees it.
fn with_routing_path<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let uri = request.uri();
    if let std::borrow::Cow::Owned(path) = contract::routing_path(uri.path()) {
        let path_and_query = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(path_and_query) = path_and_query.parse() {
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    request
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/health/db", get(health_db))
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/users/{id}/orders", get(list_user_orders))
        .route("/products", get(list_products).post(create_product))
        .route(
            "/products/{id}",
            get(get_product)
                .patch(update_product)
                .delete(delete_product),
        )
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/cancel", post(cancel_order))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        .with_state(state)
}

/// `shop`'s error as an axum response.
pub struct Error(ApiError);

impl<E: Into<ApiError>> From<E> for Error {
    fn from(error: E) -> Error {
        Error(error.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut response = json_response(self.0.status(), self.0.to_json());
        if let Some(allow) = self.0.allow() {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

type Result<T = Response> = std::result::Result<T, Error>;

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(CONTENT_TYPE, contract::JSON_CONTENT_TYPE)], body).into_response()
}

fn ok<T: Serialize>(value: &T) -> Response {
    json_response(StatusCode::OK, contract::to_json(value))
}

fn created<T: Serialize>(location: String, value: &T) -> Response {
    let mut response = json_response(StatusCode::CREATED, contract::to_json(value));
    let location = HeaderValue::try_from(location).expect("a path is a valid header");
    response.headers_mut().insert(LOCATION, location);
    response
}

/// A resource id from the path.
struct Id(i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Id> {
        let Path(segment) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        Ok(Id(contract::parse_id(&segment)?))
    }
}

/// `limit`, `offset` and `category` from the query string.
struct Query(ListQuery);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Query> {
        Ok(Query(ListQuery::parse(parts.uri.query())?))
    }
}

/// A validated JSON body, read and parsed by `shop`'s rules.
struct Json<T>(T);

impl<T: DeserializeOwned + Validate, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(request: Request, _: &S) -> Result<Json<T>> {
        let headers = request.headers();
        contract::check_json_headers(
            headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
            headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes),
        )?;
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::payload_too_large())?;
        Ok(Json(contract::parse_json(&body)?))
    }
}

async fn method_not_allowed(method: Method, path: MatchedPath) -> Error {
    let allow = contract::allowed_methods(path.as_str());
    Error(ApiError::method_not_allowed(method.as_str(), allow))
}

async fn no_route(method: Method, uri: Uri) -> Error {
    Error(ApiError::no_route(method.as_str(), uri.path()))
}

async fn health() -> Response {
    json_response(StatusCode::OK, contract::HEALTH_OK.to_vec())
}

async fn health_db(State(state): State<AppState>) -> Result {
    state.store.ping().await?;
    Ok(json_response(StatusCode::OK, contract::HEALTH_OK.to_vec()))
}

async fn create_user(State(state): State<AppState>, Json(user): Json<NewUser>) -> Result {
    let user = state.store.create_user(&user).await?;
    Ok(created(format!("/users/{}", user.id), &user))
}

async fn get_user(State(state): State<AppState>, Id(id): Id) -> Result {
    Ok(ok(&state.store.get_user(id).await?))
}

async fn list_users(State(state): State<AppState>, Query(query): Query) -> Result {
    Ok(ok(&state.store.list_users(query.page).await?))
}

async fn update_user(
    State(state): State<AppState>,
    Id(id): Id,
    Json(patch): Json<UserPatch>,
) -> Result {
    Ok(ok(&state.store.update_user(id, &patch).await?))
}

async fn delete_user(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode> {
    state.store.delete_user(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_user_orders(
    State(state): State<AppState>,
    Id(id): Id,
    Query(query): Query,
) -> Result {
    Ok(ok(&state.store.list_user_orders(id, query.page).await?))
}

async fn create_product(State(state): State<AppState>, Json(product): Json<NewProduct>) -> Result {
    let product = state.store.create_product(&product).await?;
    Ok(created(format!("/products/{}", product.id), &product))
}

async fn get_product(State(state): State<AppState>, Id(id): Id) -> Result {
    Ok(ok(&state.store.get_product(id).await?))
}

async fn list_products(State(state): State<AppState>, Query(query): Query) -> Result {
    let products = state
        .store
        .list_products(query.category.as_deref(), query.page)
        .await?;
    Ok(ok(&products))
}

async fn update_product(
    State(state): State<AppState>,
    Id(id): Id,
    Json(patch): Json<ProductPatch>,
) -> Result {
    Ok(ok(&state.store.update_product(id, &patch).await?))
}

async fn delete_product(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode> {
    state.store.delete_product(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_order(State(state): State<AppState>, Json(order): Json<NewOrder>) -> Result {
    let order = state.store.create_order(&order).await?;
    Ok(created(format!("/orders/{}", order.id), &order))
}

async fn get_order(State(state): State<AppState>, Id(id): Id) -> Result {
    Ok(ok(&state.store.get_order(id).await?))
}

async fn cancel_order(State(state): State<AppState>, Id(id): Id) -> Result {
    Ok(ok(&state.store.cancel_order(id).await?))
}
