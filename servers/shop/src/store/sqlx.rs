//! The store on `sqlx`'s `PgPool`.

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};

use super::{sql, LockedProduct, StoreError, POOL_TIMEOUT};
use crate::http::Page;
use crate::model::{
    NewOrder, NewProduct, NewUser, Order, OrderItem, OrderStatus, Product, ProductPatch, User,
    UserPatch,
};
use crate::money::Money;

#[derive(Clone)]
pub struct SqlxStore {
    pool: PgPool,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::Database(db) => {
                super::classify_db_error(db.code().as_deref(), db.constraint(), db.message())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(error.to_string()),
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
    pub fn connect(url: &str, pool_size: usize) -> Result<SqlxStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size as u32)
            .acquire_timeout(POOL_TIMEOUT)
            // Like the deadpool side: no round trip to test a connection on checkout.
            .test_before_acquire(false)
            .connect_lazy(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {e}")))?;
        Ok(SqlxStore { pool })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn create_user(&self, new: &NewUser) -> Result<User, StoreError> {
        let row = sqlx::query(sql::INSERT_USER)
            .bind(&new.username)
            .bind(&new.email)
            .fetch_one(&self.pool)
            .await?;
        Ok(user(&row)?)
    }

    pub async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        let row = sqlx::query(sql::GET_USER)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(user(&row.ok_or_else(|| super::user_not_found(id))?)?)
    }

    pub async fn list_users(&self, page: Page) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sql::LIST_USERS)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user).collect::<Result<_, _>>()?)
    }

    pub async fn update_user(&self, id: i64, patch: &UserPatch) -> Result<User, StoreError> {
        let row = sqlx::query(sql::UPDATE_USER)
            .bind(id)
            .bind(&patch.username)
            .bind(&patch.email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(user(&row.ok_or_else(|| super::user_not_found(id))?)?)
    }

    pub async fn delete_user(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query(sql::DELETE_USER)
            .bind(id)
            .execute(&self.pool)
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
        let mut conn = self.pool.acquire().await?;
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
            .bind(new.price.0)
            .bind(new.stock_quantity as i32)
            .bind(&new.category)
            .fetch_one(&self.pool)
            .await?;
        Ok(product(&row)?)
    }

    pub async fn get_product(&self, id: i64) -> Result<Product, StoreError> {
        let row = sqlx::query(sql::GET_PRODUCT)
            .bind(id)
            .fetch_optional(&self.pool)
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
        let rows = query.fetch_all(&self.pool).await?;
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
            .bind(patch.price.map(|p| p.0))
            .bind(patch.stock_quantity.map(|s| s as i32))
            .bind(&patch.category)
            .fetch_optional(&self.pool)
            .await?;
        Ok(product(&row.ok_or_else(|| super::product_not_found(id))?)?)
    }

    pub async fn delete_product(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query(sql::DELETE_PRODUCT)
            .bind(id)
            .execute(&self.pool)
            .await?;
        match done.rows_affected() {
            0 => Err(super::product_not_found(id)),
            _ => Ok(()),
        }
    }

    pub async fn create_order(&self, new: &NewOrder) -> Result<Order, StoreError> {
        let mut tx = self.pool.begin().await?;
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
        let mut conn = self.pool.acquire().await?;
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
        let mut tx = self.pool.begin().await?;
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
