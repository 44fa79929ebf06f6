//! The store on `tokio-postgres`, pooled by `deadpool-postgres`.

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::breaker::{Breaker, CONNECT_TIMEOUT};
use super::{sql, DbTimeouts, LockedProduct, StoreError, POOL_TIMEOUT};
use crate::http::Page;
use crate::model::{
    NewOrder, NewProduct, NewUser, Order, OrderItem, OrderStatus, Product, ProductPatch, User,
    UserPatch,
};
use crate::money::Money;

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    breaker: Arc<Breaker>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        match error.as_db_error() {
            Some(db) => {
                super::classify_db_error(Some(db.code().code()), db.constraint(), db.message())
            }
            None => super::classify_db_error(None, None, &error.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> StoreError {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            // Connecting (or checking a connection) took too long.
            deadpool_postgres::PoolError::Timeout(
                deadpool_postgres::TimeoutType::Create | deadpool_postgres::TimeoutType::Recycle,
            ) => StoreError::Unreachable(error.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn user(row: &Row) -> User {
    User {
        id: row.get(0),
        username: row.get(1),
        email: row.get(2),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

fn product(row: &Row) -> Product {
    Product {
        id: row.get(0),
        name: row.get(1),
        description: row.get(2),
        price: Money(row.get(3)),
        stock_quantity: row.get(4),
        category: row.get(5),
        created_at: row.get(6),
        updated_at: row.get(7),
    }
}

fn order(row: &Row) -> Result<Order, StoreError> {
    let status: &str = row.get(2);
    Ok(Order {
        id: row.get(0),
        user_id: row.get(1),
        status: OrderStatus::parse(status)
            .ok_or_else(|| StoreError::Internal(format!("unknown order status {status:?}")))?,
        total_amount: Money(row.get(3)),
        created_at: row.get(4),
        items: Vec::new(),
    })
}

fn order_item(row: &Row) -> (i64, OrderItem) {
    (
        row.get(0),
        OrderItem {
            product_id: row.get(1),
            quantity: row.get(2),
            unit_price: Money(row.get(3)),
        },
    )
}

impl PostgresStore {
    /// The store over a pool that opens its connections when first asked:
    /// nothing is connected yet ([`crate::Store::connect`] checks that the
    /// database answers).
    pub fn new(
        url: &str,
        pool_size: usize,
        timeouts: DbTimeouts,
    ) -> Result<PostgresStore, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {e}")))?;
        // The timeouts go in the startup packet, after any options of the URL.
        let mut options: Vec<String> = config
            .get_options()
            .map(str::to_string)
            .into_iter()
            .collect();
        options
            .extend((timeouts.settings().iter()).map(|(name, value)| format!("-c {name}={value}")));
        config.options(options.join(" "));
        config.connect_timeout(CONNECT_TIMEOUT);
        let breaker = Breaker::new(config.clone());
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                // The pool hands out a connection without a round trip; a dead
                // one shows as an error on use, answered with 503.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let closed = Arc::clone(&breaker);
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            // A pooled client found closed was closed by the server (a
            // shutdown, say): the pool replaces it, and the breaker checks
            // at once whether the database is still there, so requests stop
            // waiting on connection attempts to a server that is going away.
            .pre_recycle(deadpool_postgres::Hook::sync_fn(move |client, _| {
                if client.is_closed() {
                    closed.trip("a pooled connection was closed by the server");
                }
                Ok(())
            }))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(POOL_TIMEOUT),
                create: Some(CONNECT_TIMEOUT),
                recycle: Some(CONNECT_TIMEOUT),
            })
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(PostgresStore { pool, breaker })
    }

    pub(super) fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// A pooled client, unless the database is (or goes) down first.
    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.breaker.unless_down(self.pool.get()).await
    }

    async fn query<C: GenericClient>(
        client: &C,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    async fn query_opt<C: GenericClient>(
        client: &C,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_opt(&statement, params).await?)
    }

    async fn execute<C: GenericClient>(
        client: &C,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let statement = client.prepare_cached(sql).await?;
        Ok(client.execute(&statement, params).await?)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        Self::query(&client, sql::PING, &[]).await.map(drop)
    }

    pub async fn create_user(&self, new: &NewUser) -> Result<User, StoreError> {
        let client = self.client().await?;
        let row = Self::query_opt(&client, sql::INSERT_USER, &[&new.username, &new.email]).await?;
        row.as_ref()
            .map(user)
            .ok_or_else(|| StoreError::Internal("INSERT returned no row".into()))
    }

    pub async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        let client = self.client().await?;
        let row = Self::query_opt(&client, sql::GET_USER, &[&id]).await?;
        row.as_ref()
            .map(user)
            .ok_or_else(|| super::user_not_found(id))
    }

    pub async fn list_users(&self, page: Page) -> Result<Vec<User>, StoreError> {
        let client = self.client().await?;
        let rows = Self::query(&client, sql::LIST_USERS, &[&page.limit, &page.offset]).await?;
        Ok(rows.iter().map(user).collect())
    }

    pub async fn update_user(&self, id: i64, patch: &UserPatch) -> Result<User, StoreError> {
        let client = self.client().await?;
        let row = Self::query_opt(
            &client,
            sql::UPDATE_USER,
            &[&id, &patch.username, &patch.email],
        )
        .await?;
        row.as_ref()
            .map(user)
            .ok_or_else(|| super::user_not_found(id))
    }

    pub async fn delete_user(&self, id: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        match Self::execute(&client, sql::DELETE_USER, &[&id]).await? {
            0 => Err(super::user_not_found(id)),
            _ => Ok(()),
        }
    }

    pub async fn list_user_orders(
        &self,
        user_id: i64,
        page: Page,
    ) -> Result<Vec<Order>, StoreError> {
        let client = self.client().await?;
        let exists = Self::query_opt(&client, sql::USER_EXISTS, &[&user_id]).await?;
        if !exists.is_some_and(|row| row.get::<_, bool>(0)) {
            return Err(super::user_not_found(user_id));
        }
        let rows = Self::query(
            &client,
            sql::LIST_USER_ORDERS,
            &[&user_id, &page.limit, &page.offset],
        )
        .await?;
        let mut orders = rows.iter().map(order).collect::<Result<Vec<_>, _>>()?;
        Self::load_items(&client, &mut orders).await?;
        Ok(orders)
    }

    async fn load_items<C: GenericClient>(
        client: &C,
        orders: &mut [Order],
    ) -> Result<(), StoreError> {
        if orders.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
        let rows = Self::query(client, sql::ORDER_ITEMS, &[&ids]).await?;
        super::attach_items(orders, rows.iter().map(order_item));
        Ok(())
    }

    pub async fn create_product(&self, new: &NewProduct) -> Result<Product, StoreError> {
        let client = self.client().await?;
        let stock = new.stock_quantity as i32;
        let row = Self::query_opt(
            &client,
            sql::INSERT_PRODUCT,
            &[
                &new.name,
                &new.description,
                &new.price.validated().0,
                &stock,
                &new.category,
            ],
        )
        .await?;
        row.as_ref()
            .map(product)
            .ok_or_else(|| StoreError::Internal("INSERT returned no row".into()))
    }

    pub async fn get_product(&self, id: i64) -> Result<Product, StoreError> {
        let client = self.client().await?;
        let row = Self::query_opt(&client, sql::GET_PRODUCT, &[&id]).await?;
        row.as_ref()
            .map(product)
            .ok_or_else(|| super::product_not_found(id))
    }

    pub async fn list_products(
        &self,
        category: Option<&str>,
        page: Page,
    ) -> Result<Vec<Product>, StoreError> {
        let client = self.client().await?;
        let rows = match category {
            Some(category) => {
                Self::query(
                    &client,
                    sql::LIST_PRODUCTS_IN_CATEGORY,
                    &[&page.limit, &page.offset, &category],
                )
                .await?
            }
            None => Self::query(&client, sql::LIST_PRODUCTS, &[&page.limit, &page.offset]).await?,
        };
        Ok(rows.iter().map(product).collect())
    }

    pub async fn update_product(
        &self,
        id: i64,
        patch: &ProductPatch,
    ) -> Result<Product, StoreError> {
        let client = self.client().await?;
        let price = patch.price.map(|p| p.validated().0);
        let stock = patch.stock_quantity.map(|s| s as i32);
        let row = Self::query_opt(
            &client,
            sql::UPDATE_PRODUCT,
            &[
                &id,
                &patch.name,
                &patch.description,
                &price,
                &stock,
                &patch.category,
            ],
        )
        .await?;
        row.as_ref()
            .map(product)
            .ok_or_else(|| super::product_not_found(id))
    }

    pub async fn delete_product(&self, id: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        match Self::execute(&client, sql::DELETE_PRODUCT, &[&id]).await? {
            0 => Err(super::product_not_found(id)),
            _ => Ok(()),
        }
    }

    pub async fn create_order(&self, new: &NewOrder) -> Result<Order, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let exists = Self::query_opt(&tx, sql::LOCK_USER, &[&new.user_id]).await?;
        if !exists.is_some_and(|row| row.get::<_, bool>(0)) {
            return Err(super::unknown_user(new.user_id));
        }
        let ids: Vec<i64> = new.items.iter().map(|i| i.product_id).collect();
        let locked: Vec<LockedProduct> = Self::query(&tx, sql::LOCK_PRODUCTS, &[&ids])
            .await?
            .iter()
            .map(|row| LockedProduct {
                id: row.get(0),
                price: row.get(1),
                stock: row.get(2),
            })
            .collect();
        let plan = super::plan_order(new, &locked)?;
        let placed = Self::query_opt(
            &tx,
            sql::PLACE_ORDER,
            &[
                &new.user_id,
                &plan.total,
                &plan.product_ids,
                &plan.quantities,
                &plan.unit_prices,
            ],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("order INSERT returned no row".into()))?;
        tx.commit().await?;
        Ok(plan.into_order(new.user_id, placed.get(0), placed.get(1)))
    }

    pub async fn get_order(&self, id: i64) -> Result<Order, StoreError> {
        let client = self.client().await?;
        let row = Self::query_opt(&client, sql::GET_ORDER, &[&id]).await?;
        let mut orders = [order(&row.ok_or_else(|| super::order_not_found(id))?)?];
        Self::load_items(&client, &mut orders).await?;
        let [order] = orders;
        Ok(order)
    }

    pub async fn cancel_order(&self, id: i64) -> Result<Order, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = Self::query_opt(&tx, sql::CANCEL_ORDER, &[&id]).await? else {
            return Err(
                match Self::query_opt(&tx, sql::ORDER_STATUS, &[&id]).await? {
                    Some(_) => super::already_cancelled(id),
                    None => super::order_not_found(id),
                },
            );
        };
        let mut orders = [order(&row)?];
        Self::query(&tx, sql::LOCK_ORDER_PRODUCTS, &[&id]).await?;
        Self::execute(&tx, sql::RESTORE_STOCK, &[&id]).await?;
        Self::load_items(&tx, &mut orders).await?;
        tx.commit().await?;
        let [order] = orders;
        Ok(order)
    }
}
