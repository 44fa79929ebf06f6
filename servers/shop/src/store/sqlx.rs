//! The store on `sqlx`'s `PgPool`.

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};

use super::breaker::Breaker;
use super::{sql, DbTimeouts, LockedProduct, StoreError, POOL_TIMEOUT};
use crate::http::Page;
use crate::model::{
    NewOrder, NewProduct, NewUser, Order, OrderItem, OrderStatus, Product, ProductPatch, User,
    UserPatch,
};
use crate::money::Money;

#[derive(Clone)]
pub struct SqlxStore {
    pool: PgPool,
    breaker: Arc<Breaker>,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::Database(db) => {
                super::classify_db_error(db.code().as_deref(), db.constraint(), db.message())
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(error.to_string())
            }
            // The connection itself failed.
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unreachable(error.to_string()),
            _ => StoreError::Internal(error.to_string()),
        }
    }
}

fn user(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        email: row.try_get(2)?,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

fn product(row: &PgRow) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        price: Money(row.try_get(3)?),
        stock_quantity: row.try_get(4)?,
        category: row.try_get(5)?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
    })
}

fn order(row: &PgRow) -> Result<Order, StoreError> {
    let status: &str = row.try_get(2)?;
    Ok(Order {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        status: OrderStatus::parse(status)
            .ok_or_else(|| StoreError::Internal(format!("unknown order status {status:?}")))?,
        total_amount: Money(row.try_get(3)?),
        created_at: row.try_get(4)?,
        items: Vec::new(),
    })
}

fn order_item(row: &PgRow) -> Result<(i64, OrderItem), sqlx::Error> {
    Ok((
        row.try_get(0)?,
        OrderItem {
            product_id: row.try_get(1)?,
            quantity: row.try_get(2)?,
            unit_price: Money(row.try_get(3)?),
        },
    ))
}

impl SqlxStore {
    /// The store over a pool that opens its connections when first asked:
    /// nothing is connected yet ([`crate::Store::connect`] checks that the
    /// database answers).
    pub fn new(url: &str, pool_size: usize, timeouts: DbTimeouts) -> Result<SqlxStore, StoreError> {
        let invalid = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("invalid database URL: {e}"))
        };
        let settings = timeouts.settings();
        // The timeouts go in the startup packet, after any options of the URL.
        let options = (url.parse::<PgConnectOptions>())
            .map_err(|e| invalid(&e))?
            .options(settings.iter().map(|(name, value)| (*name, value.as_str())));
        let mut probe: tokio_postgres::Config = url.parse().map_err(|e| invalid(&e))?;
        probe.options(options.get_options().unwrap_or_default());
        let breaker = Breaker::new(probe);
        let stale = Arc::clone(&breaker);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size as u32)
            .acquire_timeout(POOL_TIMEOUT)
            // Like the deadpool side: no round trip to test a connection on
            // checkout. sqlx has no reader noticing a connection closed by
            // the server, so the connections made before the database was
            // last found down are dropped instead of handed out.
            .test_before_acquire(false)
            .before_acquire(move |_, meta| {
                let keep = !stale.is_stale(meta.age);
                Box::pin(async move { Ok(keep) })
            })
            .connect_lazy_with(options);
        Ok(SqlxStore { pool, breaker })
    }

    pub(super) fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// A pooled connection, unless the database is (or goes) down first: the
    /// pool would keep retrying to connect until its timeout.
    async fn conn(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.breaker.unless_down(self.pool.acquire()).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    pub async fn create_user(&self, new: &NewUser) -> Result<User, StoreError> {
        let row = sqlx::query(sql::INSERT_USER)
            .bind(&new.username)
            .bind(&new.email)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(user(&row)?)
    }

    pub async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        let row = sqlx::query(sql::GET_USER)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(user(&row.ok_or_else(|| super::user_not_found(id))?)?)
    }

    pub async fn list_users(&self, page: Page) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sql::LIST_USERS)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        Ok(rows.iter().map(user).collect::<Result<_, _>>()?)
    }

    pub async fn update_user(&self, id: i64, patch: &UserPatch) -> Result<User, StoreError> {
        let row = sqlx::query(sql::UPDATE_USER)
            .bind(id)
            .bind(&patch.username)
            .bind(&patch.email)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(user(&row.ok_or_else(|| super::user_not_found(id))?)?)
    }

    pub async fn delete_user(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query(sql::DELETE_USER)
            .bind(id)
            .execute(&mut *self.conn().await?)
            .await?;
        match done.rows_affected() {
            0 => Err(super::user_not_found(id)),
            _ => Ok(()),
        }
    }

    pub async fn list_user_orders(
        &self,
        user_id: i64,
        page: Page,
    ) -> Result<Vec<Order>, StoreError> {
        let mut conn = self.conn().await?;
        let exists: bool = sqlx::query_scalar(sql::USER_EXISTS)
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            return Err(super::user_not_found(user_id));
        }
        let rows = sqlx::query(sql::LIST_USER_ORDERS)
            .bind(user_id)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&mut *conn)
            .await?;
        let mut orders = rows.iter().map(order).collect::<Result<Vec<_>, _>>()?;
        load_items(&mut conn, &mut orders).await?;
        Ok(orders)
    }

    pub async fn create_product(&self, new: &NewProduct) -> Result<Product, StoreError> {
        let row = sqlx::query(sql::INSERT_PRODUCT)
            .bind(&new.name)
            .bind(&new.description)
            .bind(new.price.validated().0)
            .bind(new.stock_quantity as i32)
            .bind(&new.category)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(product(&row)?)
    }

    pub async fn get_product(&self, id: i64) -> Result<Product, StoreError> {
        let row = sqlx::query(sql::GET_PRODUCT)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(product(&row.ok_or_else(|| super::product_not_found(id))?)?)
    }

    pub async fn list_products(
        &self,
        category: Option<&str>,
        page: Page,
    ) -> Result<Vec<Product>, StoreError> {
        let query = match category {
            Some(category) => sqlx::query(sql::LIST_PRODUCTS_IN_CATEGORY)
                .bind(page.limit)
                .bind(page.offset)
                .bind(category),
            None => sqlx::query(sql::LIST_PRODUCTS)
                .bind(page.limit)
                .bind(page.offset),
        };
        let rows = query.fetch_all(&mut *self.conn().await?).await?;
        Ok(rows.iter().map(product).collect::<Result<_, _>>()?)
    }

    pub async fn update_product(
        &self,
        id: i64,
        patch: &ProductPatch,
    ) -> Result<Product, StoreError> {
        let row = sqlx::query(sql::UPDATE_PRODUCT)
            .bind(id)
            .bind(&patch.name)
            .bind(&patch.description)
            .bind(patch.price.map(|p| p.validated().0))
            .bind(patch.stock_quantity.map(|s| s as i32))
            .bind(&patch.category)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(product(&row.ok_or_else(|| super::product_not_found(id))?)?)
    }

    pub async fn delete_product(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query(sql::DELETE_PRODUCT)
            .bind(id)
            .execute(&mut *self.conn().await?)
            .await?;
        match done.rows_affected() {
            0 => Err(super::product_not_found(id)),
            _ => Ok(()),
        }
    }

    pub async fn create_order(&self, new: &NewOrder) -> Result<Order, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let exists: bool = sqlx::query_scalar(sql::LOCK_USER)
            .bind(new.user_id)
            .fetch_one(&mut *tx)
            .await?;
        if !exists {
            return Err(super::unknown_user(new.user_id));
        }
        let ids: Vec<i64> = new.items.iter().map(|i| i.product_id).collect();
        let locked = sqlx::query(sql::LOCK_PRODUCTS)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| {
                Ok(LockedProduct {
                    id: row.try_get(0)?,
                    price: row.try_get(1)?,
                    stock: row.try_get(2)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let plan = super::plan_order(new, &locked)?;
        let placed = sqlx::query(sql::PLACE_ORDER)
            .bind(new.user_id)
            .bind(plan.total)
            .bind(&plan.product_ids)
            .bind(&plan.quantities)
            .bind(&plan.unit_prices)
            .fetch_one(&mut *tx)
            .await?;
        let (id, created_at) = (placed.try_get(0)?, placed.try_get(1)?);
        tx.commit().await?;
        Ok(plan.into_order(new.user_id, id, created_at))
    }

    pub async fn get_order(&self, id: i64) -> Result<Order, StoreError> {
        let mut conn = self.conn().await?;
        let row = sqlx::query(sql::GET_ORDER)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        let mut orders = [order(&row.ok_or_else(|| super::order_not_found(id))?)?];
        load_items(&mut conn, &mut orders).await?;
        let [order] = orders;
        Ok(order)
    }

    pub async fn cancel_order(&self, id: i64) -> Result<Order, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let Some(row) = sqlx::query(sql::CANCEL_ORDER)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            let status = sqlx::query(sql::ORDER_STATUS)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match status {
                Some(_) => super::already_cancelled(id),
                None => super::order_not_found(id),
            });
        };
        let mut orders = [order(&row)?];
        sqlx::query(sql::LOCK_ORDER_PRODUCTS)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query(sql::RESTORE_STOCK)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        load_items(&mut tx, &mut orders).await?;
        tx.commit().await?;
        let [order] = orders;
        Ok(order)
    }
}

async fn load_items(conn: &mut sqlx::PgConnection, orders: &mut [Order]) -> Result<(), StoreError> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let rows = sqlx::query::<Postgres>(sql::ORDER_ITEMS)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
    let items = rows.iter().map(order_item).collect::<Result<Vec<_>, _>>()?;
    super::attach_items(orders, items);
    Ok(())
}
