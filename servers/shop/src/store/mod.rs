//! The store: every query the API needs, on either driver.
//!
//! [`Store`] is an enum over the two implementations rather than a trait
//! object, so the hot path is a `match` the compiler can see through instead
//! of a virtual call and a boxed future. Both run the SQL in [`sql`] and share
//! the decisions in [`plan_order`], so they differ only in the driver.

mod breaker;
mod postgres;
mod sql;
mod sqlx;
pub mod stub;

use std::time::Duration;

use rust_decimal::Decimal;

use crate::error::{ApiError, ErrorCode};
use crate::http::Page;
use crate::model::{NewOrder, NewProduct, NewUser, Order, Product, ProductPatch, User, UserPatch};
use crate::money::Money;

/// Which database driver the store runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Driver {
    /// `tokio-postgres` through a `deadpool-postgres` pool, statements prepared once per connection.
    #[default]
    TokioPostgres,
    /// `sqlx`'s `PgPool`, which caches prepared statements per connection too.
    Sqlx,
}

impl Driver {
    pub const ALL: [Driver; 2] = [Driver::TokioPostgres, Driver::Sqlx];

    /// The driver of this name (`tokio-postgres`, `sqlx`).
    pub fn from_name(name: &str) -> Option<Driver> {
        Driver::ALL.into_iter().find(|driver| driver.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Driver::TokioPostgres => "tokio-postgres",
            Driver::Sqlx => "sqlx",
        }
    }
}

/// How long a request waits for a pooled connection before answering 503.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits every pooled connection sets in its startup packet, so they hold
/// from the first statement on; zero turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbTimeouts {
    /// `statement_timeout`: a statement running longer is cancelled (503).
    pub statement: Duration,
    /// `lock_timeout`: a statement waiting longer for a lock fails (503).
    pub lock: Duration,
    /// `idle_in_transaction_session_timeout`: a connection left inside a
    /// transaction longer is closed by the server, releasing its locks.
    pub idle_in_transaction: Duration,
}

impl Default for DbTimeouts {
    fn default() -> DbTimeouts {
        DbTimeouts {
            statement: Duration::from_secs(5),
            lock: Duration::from_secs(2),
            idle_in_transaction: Duration::from_secs(10),
        }
    }
}

impl DbTimeouts {
    /// The settings as (name, milliseconds) pairs.
    pub(crate) fn settings(&self) -> [(&'static str, String); 3] {
        let ms = |d: Duration| d.as_millis().to_string();
        [
            ("statement_timeout", ms(self.statement)),
            ("lock_timeout", ms(self.lock)),
            (
                "idle_in_transaction_session_timeout",
                ms(self.idle_in_transaction),
            ),
        ]
    }
}

/// Why a store operation failed; each maps to one API error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(
        "insufficient stock for product {product_id}: requested {requested}, available {available}"
    )]
    InsufficientStock {
        product_id: i64,
        requested: i32,
        available: i32,
    },
    #[error("{0}")]
    UnknownReference(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database cannot be reached at all (refused or broken connection,
    /// server shut down): trips the store's circuit breaker. Also a 503.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error("database error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let code = match &error {
            StoreError::NotFound(_) => ErrorCode::NotFound,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::InsufficientStock { .. } => ErrorCode::InsufficientStock,
            StoreError::UnknownReference(_) => ErrorCode::UnknownReference,
            StoreError::Invalid(_) => ErrorCode::BadRequest,
            StoreError::Unavailable(detail) | StoreError::Unreachable(detail) => {
                // An outage is logged once, by the breaker; not per request.
                match &error {
                    StoreError::Unreachable(_) => tracing::debug!(%detail, "database unreachable"),
                    _ => tracing::warn!(%detail, "database unavailable"),
                }
                return ApiError::new(
                    ErrorCode::Unavailable,
                    "the database is unavailable; try again later",
                );
            }
            StoreError::Internal(detail) => {
                tracing::error!(%detail, "store failed");
                return ApiError::new(ErrorCode::Internal, "internal error");
            }
        };
        ApiError::new(code, error.to_string())
    }
}

/// The SQLSTATE classes the store turns into API errors; everything else is
/// a bug (500) or, for connection trouble, 503.
pub(crate) fn classify_db_error(
    sqlstate: Option<&str>,
    constraint: Option<&str>,
    message: &str,
) -> StoreError {
    match sqlstate {
        Some("23505") => StoreError::Conflict(match constraint {
            Some("users_username_key") => "username is already taken".to_string(),
            Some("users_email_key") => "email is already in use".to_string(),
            _ => format!("duplicate value: {message}"),
        }),
        Some("23503") => match constraint {
            Some("orders_user_id_fkey") => {
                StoreError::Conflict("user has orders and cannot be deleted".into())
            }
            Some("order_items_product_id_fkey") => {
                StoreError::Conflict("product has been ordered and cannot be deleted".into())
            }
            _ => StoreError::Conflict(format!("still referenced: {message}")),
        },
        Some("23514") if constraint == Some("products_stock_quantity_max") => {
            StoreError::Conflict(format!(
                "a product's stock cannot exceed {}; restoring this order's items would",
                crate::model::MAX_STOCK
            ))
        }
        Some("22003") => StoreError::Invalid(format!("value out of range: {message}")),
        // Data exceptions: the input, not the server, is at fault.
        Some(code) if code.starts_with("22") => {
            StoreError::Invalid(format!("invalid value: {message}"))
        }
        // Connection exceptions and a server shutting down, restarting or
        // starting up: the database is unreachable.
        Some(code) if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") => {
            StoreError::Unreachable(message.to_string())
        }
        // Operator intervention (a statement
        // cancelled by its timeout), insufficient resources, a lock not had in
        // time, serialization failures and deadlocks: the request may succeed
        // if tried again.
        Some(code)
            if code.starts_with("57")
                || code.starts_with("53")
                || code.starts_with("40")
                || code == "55P03" =>
        {
            StoreError::Unavailable(message.to_string())
        }
        Some(_) => StoreError::Internal(message.to_string()),
        // No SQLSTATE: the connection itself failed.
        None => StoreError::Unreachable(message.to_string()),
    }
}

/// A product row as locked by order placement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockedProduct {
    pub id: i64,
    pub price: Decimal,
    pub stock: i32,
}

/// What order placement writes, decided from the locked rows.
#[derive(Debug)]
pub(crate) struct OrderPlan {
    pub total: Decimal,
    pub product_ids: Vec<i64>,
    pub quantities: Vec<i32>,
    pub unit_prices: Vec<Decimal>,
}

impl OrderPlan {
    /// The order as placed, once the database has given it an id and a time.
    pub fn into_order(self, user_id: i64, id: i64, created_at: crate::model::Timestamp) -> Order {
        let items = (self.product_ids.into_iter())
            .zip(self.quantities)
            .zip(self.unit_prices)
            .map(
                |((product_id, quantity), unit_price)| crate::model::OrderItem {
                    product_id,
                    quantity,
                    unit_price: Money(unit_price),
                },
            )
            .collect();
        Order {
            id,
            user_id,
            status: crate::model::OrderStatus::Confirmed,
            total_amount: Money(self.total),
            created_at,
            items,
        }
    }
}

/// The largest amount a `NUMERIC(12,2)` column holds.
pub const MAX_ORDER_TOTAL: Decimal = Decimal::from_parts(0xD4A5_0FFF, 0xE8, 0, false, 2);

/// Checks every item against the locked rows (sorted by id) and prices the
/// order. Unknown products are reported before stock, like the unknown user.
pub(crate) fn plan_order(
    order: &NewOrder,
    locked: &[LockedProduct],
) -> Result<OrderPlan, StoreError> {
    let find = |id: i64| {
        locked
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| locked[i])
    };
    let missing: Vec<String> = order
        .items
        .iter()
        .filter(|item| find(item.product_id).is_none())
        .map(|item| item.product_id.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::UnknownReference(format!(
            "unknown product id(s): {}",
            missing.join(", ")
        )));
    }
    let mut plan = OrderPlan {
        total: Decimal::ZERO,
        product_ids: Vec::with_capacity(order.items.len()),
        quantities: Vec::with_capacity(order.items.len()),
        unit_prices: Vec::with_capacity(order.items.len()),
    };
    for item in &order.items {
        let product = find(item.product_id).expect("checked above");
        if product.stock < item.quantity {
            return Err(StoreError::InsufficientStock {
                product_id: product.id,
                requested: item.quantity,
                available: product.stock,
            });
        }
        plan.total += product.price * Decimal::from(item.quantity);
        plan.product_ids.push(product.id);
        plan.quantities.push(item.quantity);
        plan.unit_prices.push(product.price);
    }
    if plan.total > MAX_ORDER_TOTAL {
        return Err(StoreError::Invalid(format!(
            "order total {} exceeds the largest amount an order can hold ({})",
            Money(plan.total),
            Money(MAX_ORDER_TOTAL)
        )));
    }
    Ok(plan)
}

fn unknown_user(user_id: i64) -> StoreError {
    StoreError::UnknownReference(format!("unknown user id: {user_id}"))
}

/// The store on one of the two drivers.
#[derive(Clone)]
pub enum Store {
    TokioPostgres(postgres::PostgresStore),
    Sqlx(sqlx::SqlxStore),
    /// No database: for the micro-benchmarks of the request path only. A
    /// server builds its store from `--driver`, which never names it.
    Stub(stub::StubStore),
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::TokioPostgres($store) => $store.breaker().run(async { $call }).await,
            Store::Sqlx($store) => $store.breaker().run(async { $call }).await,
            Store::Stub($store) => $call,
        }
    };
}

/// Runs a write on a task of its own and waits for it.
///
/// A client that hangs up makes the server drop the request's future, and
/// with it the store call it was awaiting, at whatever await it had reached.
/// With sqlx 0.8, a call dropped while `BEGIN` waits for its reply returns
/// its connection to the pool inside an open transaction (no `ROLLBACK` is
/// queued: transact-rs/sqlx#4393), and later autocommit writes on that
/// connection are answered as done but never committed. Detached, every
/// write runs to its end, commit or rollback, and returns its connection
/// clean, whatever the client does; and a write that reached the server
/// happens or not by the database's answer, not by when the client left.
/// Reads stay inline: a dropped read leaves nothing behind.
async fn detached<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::spawn(write)
        .await
        .unwrap_or_else(|error| Err(StoreError::Internal(format!("store task failed: {error}"))))
}

impl Store {
    /// Builds a pool of `pool_size` connections to `url` and checks that the
    /// database answers, so a server fails at start rather than on its first request.
    pub async fn connect(driver: Driver, url: &str, pool_size: usize) -> Result<Store, StoreError> {
        Store::connect_with(driver, url, pool_size, DbTimeouts::default()).await
    }

    /// [`Store::connect`] with the given per-connection timeouts.
    pub async fn connect_with(
        driver: Driver,
        url: &str,
        pool_size: usize,
        timeouts: DbTimeouts,
    ) -> Result<Store, StoreError> {
        let store = Store::open(driver, url, pool_size, timeouts)?;
        store.ping().await?;
        Ok(store)
    }

    /// A store whose pool opens its connections when first asked, on the
    /// runtime that asks.
    pub fn open(
        driver: Driver,
        url: &str,
        pool_size: usize,
        timeouts: DbTimeouts,
    ) -> Result<Store, StoreError> {
        Ok(match driver {
            Driver::TokioPostgres => {
                Store::TokioPostgres(postgres::PostgresStore::new(url, pool_size, timeouts)?)
            }
            Driver::Sqlx => Store::Sqlx(sqlx::SqlxStore::new(url, pool_size, timeouts)?),
        })
    }

    /// One round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }

    pub async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let (store, user) = (self.clone(), user.clone());
        detached(async move { dispatch!(store, s => s.create_user(&user).await) }).await
    }

    pub async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        dispatch!(self, s => s.get_user(id).await)
    }

    pub async fn list_users(&self, page: Page) -> Result<Vec<User>, StoreError> {
        dispatch!(self, s => s.list_users(page).await)
    }

    pub async fn update_user(&self, id: i64, patch: &UserPatch) -> Result<User, StoreError> {
        let (store, patch) = (self.clone(), patch.clone());
        detached(async move { dispatch!(store, s => s.update_user(id, &patch).await) }).await
    }

    pub async fn delete_user(&self, id: i64) -> Result<(), StoreError> {
        let store = self.clone();
        detached(async move { dispatch!(store, s => s.delete_user(id).await) }).await
    }

    /// A user's orders, oldest first; `NotFound` if the user does not exist.
    pub async fn list_user_orders(
        &self,
        user_id: i64,
        page: Page,
    ) -> Result<Vec<Order>, StoreError> {
        dispatch!(self, s => s.list_user_orders(user_id, page).await)
    }

    pub async fn create_product(&self, product: &NewProduct) -> Result<Product, StoreError> {
        let (store, product) = (self.clone(), product.clone());
        detached(async move { dispatch!(store, s => s.create_product(&product).await) }).await
    }

    pub async fn get_product(&self, id: i64) -> Result<Product, StoreError> {
        dispatch!(self, s => s.get_product(id).await)
    }

    pub async fn list_products(
        &self,
        category: Option<&str>,
        page: Page,
    ) -> Result<Vec<Product>, StoreError> {
        dispatch!(self, s => s.list_products(category, page).await)
    }

    pub async fn update_product(
        &self,
        id: i64,
        patch: &ProductPatch,
    ) -> Result<Product, StoreError> {
        let (store, patch) = (self.clone(), patch.clone());
        detached(async move { dispatch!(store, s => s.update_product(id, &patch).await) }).await
    }

    pub async fn delete_product(&self, id: i64) -> Result<(), StoreError> {
        let store = self.clone();
        detached(async move { dispatch!(store, s => s.delete_product(id).await) }).await
    }

    /// Places an order in one transaction: locks the products in id order,
    /// checks the user, every product and its stock, decrements the stock and
    /// writes the order with the prices read under the lock. Any failure
    /// rolls back and changes nothing.
    pub async fn create_order(&self, order: &NewOrder) -> Result<Order, StoreError> {
        let (store, order) = (self.clone(), order.clone());
        detached(async move { dispatch!(store, s => s.create_order(&order).await) }).await
    }

    pub async fn get_order(&self, id: i64) -> Result<Order, StoreError> {
        dispatch!(self, s => s.get_order(id).await)
    }

    /// Cancels a confirmed order and restores its stock in one transaction;
    /// cancelling an order twice is a `Conflict`.
    pub async fn cancel_order(&self, id: i64) -> Result<Order, StoreError> {
        let store = self.clone();
        detached(async move { dispatch!(store, s => s.cancel_order(id).await) }).await
    }
}

fn user_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("user {id}"))
}

fn product_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("product {id}"))
}

fn order_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("order {id}"))
}

fn already_cancelled(id: i64) -> StoreError {
    StoreError::Conflict(format!("order {id} is already cancelled"))
}

/// Groups `(order_id, item)` rows, sorted by order id, onto their orders.
fn attach_items(
    orders: &mut [Order],
    items: impl IntoIterator<Item = (i64, crate::model::OrderItem)>,
) {
    let mut items = items.into_iter().peekable();
    for order in orders.iter_mut() {
        while let Some((_, item)) = items.next_if(|(order_id, _)| *order_id == order.id) {
            order.items.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::classify_db_error;
    use crate::error::ApiError;

    /// Each SQLSTATE the store meets, as the client sees it: status and body.
    #[test]
    fn sqlstates_become_the_contracts_errors() {
        let answer = |sqlstate: Option<&str>, constraint: Option<&str>| {
            let error = ApiError::from(classify_db_error(sqlstate, constraint, "detail"));
            (
                error.status().as_u16(),
                String::from_utf8(error.to_json()).unwrap(),
            )
        };
        let unavailable = (
            503,
            r#"{"error":{"code":"unavailable","message":"the database is unavailable; try again later"}}"#
                .to_string(),
        );
        // Worth a retry: a statement cancelled by its timeout (57014), a lock
        // not had in time (55P03), serialization failure (40001), deadlock
        // (40P01), too many connections (53300); and the database unreachable:
        // no SQLSTATE, a connection exception (08006), a shutdown (57P01).
        for sqlstate in [
            Some("57014"),
            Some("55P03"),
            Some("40001"),
            Some("40P01"),
            Some("53300"),
            None,
            Some("08006"),
            Some("57P01"),
            Some("57P03"),
        ] {
            assert_eq!(answer(sqlstate, None), unavailable, "{sqlstate:?}");
        }
        assert_eq!(
            answer(Some("23505"), Some("users_username_key")),
            (
                409,
                r#"{"error":{"code":"conflict","message":"username is already taken"}}"#.into()
            )
        );
        assert_eq!(
            answer(Some("23503"), Some("orders_user_id_fkey")),
            (
                409,
                r#"{"error":{"code":"conflict","message":"user has orders and cannot be deleted"}}"#
                    .into()
            )
        );
        // A data exception is the input's fault: 400, never 5xx.
        assert_eq!(answer(Some("22021"), None).0, 400);
        assert_eq!(answer(Some("22003"), None).0, 400);
        // Anything else is a bug of ours: 500, its detail kept out of the answer.
        assert_eq!(
            answer(Some("42P01"), None),
            (
                500,
                r#"{"error":{"code":"internal","message":"internal error"}}"#.into()
            )
        );
    }
}
