//! The stackbench API on bare hyper 1.x: an accept loop, and routing written
//! by hand as a `match` on the path's segments and the method.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use server_runtime::AppState;
use shop::http::{self as contract, ListQuery, MAX_BODY_BYTES};
use shop::model::Validate;
use shop::ApiError;

type Body = Full<Bytes>;
type Result<T = Response<Body>> = std::result::Result<T, ApiError>;

/// Serves the API on `listener` until `shutdown` resolves, then finishes
/// the requests in flight.
pub async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.shutdown_timeout;
    server_runtime::serve::http1(listener, shutdown, grace, service(state)).await
}

/// The API as the hyper service `serve` runs on every connection (the
/// micro-benchmarks drive it over an in-memory stream).
pub fn service(
    state: AppState,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = std::result::Result<Response<Body>, Infallible>> + Send,
> + Clone
       + Send
       + 'static {
    service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(respond(&state, request).await) }
    })
}

async fn respond(state: &AppState, request: Request<Incoming>) -> Response<Body> {
    route(state, request)
        .await
        .unwrap_or_else(|error| error_response(&error))
}

/// The routing table. Paths match first (any segment matches `{id}`), then
/// the method, then the id is parsed: the same precedence as axum and actix.
async fn route(state: &AppState, request: Request<Incoming>) -> Result {
    let path = contract::routing_path(request.uri().path()).into_owned();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return Err(ApiError::no_route(request.method().as_str(), &path));
    }
    let store = &state.store;
    let asked = request.method().clone();
    // hyper sends no body in answer to HEAD, so GET's handlers serve it.
    let method = if asked == Method::HEAD {
        Method::GET
    } else {
        asked.clone()
    };
    match (segments.as_slice(), method) {
        (["health"], Method::GET) => {
            Ok(json_response(StatusCode::OK, contract::HEALTH_OK.to_vec()))
        }
        (["health", "db"], Method::GET) => {
            store.ping().await?;
            Ok(json_response(StatusCode::OK, contract::HEALTH_OK.to_vec()))
        }

        (["users"], Method::GET) => ok(&store.list_users(query(&request)?.page).await?),
        (["users"], Method::POST) => {
            let user = store.create_user(&json_body(request).await?).await?;
            Ok(created(format!("/users/{}", user.id), &user))
        }
        (["users", id], Method::GET) => ok(&store.get_user(id_of(id)?).await?),
        (["users", id], Method::PATCH) => {
            let id = id_of(id)?;
            ok(&store.update_user(id, &json_body(request).await?).await?)
        }
        (["users", id], Method::DELETE) => {
            store.delete_user(id_of(id)?).await?;
            Ok(no_content())
        }
        (["users", id, "orders"], Method::GET) => {
            let id = id_of(id)?;
            ok(&store.list_user_orders(id, query(&request)?.page).await?)
        }

        (["products"], Method::GET) => {
            let query = query(&request)?;
            ok(&store
                .list_products(query.category.as_deref(), query.page)
                .await?)
        }
        (["products"], Method::POST) => {
            let product = store.create_product(&json_body(request).await?).await?;
            Ok(created(format!("/products/{}", product.id), &product))
        }
        (["products", id], Method::GET) => ok(&store.get_product(id_of(id)?).await?),
        (["products", id], Method::PATCH) => {
            let id = id_of(id)?;
            ok(&store.update_product(id, &json_body(request).await?).await?)
        }
        (["products", id], Method::DELETE) => {
            store.delete_product(id_of(id)?).await?;
            Ok(no_content())
        }

        (["orders"], Method::POST) => {
            let order = store.create_order(&json_body(request).await?).await?;
            Ok(created(format!("/orders/{}", order.id), &order))
        }
        (["orders", id], Method::GET) => ok(&store.get_order(id_of(id)?).await?),
        (["orders", id, "cancel"], Method::POST) => ok(&store.cancel_order(id_of(id)?).await?),

        (segments, _) => Err(match route_template(segments) {
            Some(template) => {
                ApiError::method_not_allowed(asked.as_str(), contract::allowed_methods(template))
            }
            None => ApiError::no_route(asked.as_str(), &path),
        }),
    }
}

/// The `shop::http::ROUTES` entry a path matches, whatever the method.
fn route_template(segments: &[&str]) -> Option<&'static str> {
    Some(match segments {
        ["health"] => "/health",
        ["health", "db"] => "/health/db",
        ["users"] => "/users",
        ["users", _] => "/users/{id}",
        ["users", _, "orders"] => "/users/{id}/orders",
        ["products"] => "/products",
        ["products", _] => "/products/{id}",
        ["orders"] => "/orders",
        ["orders", _] => "/orders/{id}",
        ["orders", _, "cancel"] => "/orders/{id}/cancel",
        _ => return None,
    })
}

/// An id from a raw path segment (axum and actix decode theirs).
fn id_of(segment: &str) -> Result<i64> {
    contract::parse_raw_id(segment)
}

fn query(request: &Request<Incoming>) -> Result<ListQuery> {
    ListQuery::parse(request.uri().query())
}

/// Reads a JSON body under the size limit and parses it by `shop`'s rules.
async fn json_body<T: DeserializeOwned + Validate>(request: Request<Incoming>) -> Result<T> {
    let headers = request.headers();
    contract::check_json_headers(
        headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
        headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes),
    )?;
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| ApiError::payload_too_large())?
        .to_bytes();
    contract::parse_json(&body)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(contract::JSON_CONTENT_TYPE),
    );
    response
}

fn ok<T: Serialize>(value: &T) -> Result {
    Ok(json_response(StatusCode::OK, contract::to_json(value)))
}

fn created<T: Serialize>(location: String, value: &T) -> Response<Body> {
    let mut response = json_response(StatusCode::CREATED, contract::to_json(value));
    let location = HeaderValue::try_from(location).expect("a path is a valid header");
    response.headers_mut().insert(LOCATION, location);
    response
}

fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn error_response(error: &ApiError) -> Response<Body> {
    let mut response = json_response(error.status(), error.to_json());
    if let Some(allow) = error.allow() {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}
