//! A store without a database, for the micro-benchmarks only: they measure
//! a server's request path up to the store call, so the store answers at
//! once with fixed data. It is compiled into every build rather than behind
//! a cargo feature: cargo unifies features across the packages of one
//! build, so a feature the benchmarks turned on would have changed the
//! servers built beside them, and the binaries the gates and tests measure
//! would not have been the binaries that ship. No server runs on it: a
//! server opens its store from `--driver`, which names a real driver only.

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;

use super::{OrderPlan, Page, StoreError};
use crate::model::{
    NewOrder, NewProduct, NewUser, Order, Product, ProductPatch, Timestamp, User, UserPatch,
};

/// Every product costs this; every answer is stamped with [`stamp`].
const PRICE: Decimal = Decimal::from_parts(1999, 0, 0, false, 2);

fn stamp() -> Timestamp {
    Utc.timestamp_opt(1_714_564_800, 123_456_000).unwrap()
}

/// Answers `create_order` and `get_user` as a database with every user and
/// product would; every other call is a 404.
#[derive(Clone, Copy, Debug, Default)]
pub struct StubStore;

fn absent<T>() -> Result<T, StoreError> {
    Err(StoreError::NotFound("stub store".into()))
}

impl StubStore {
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    pub async fn create_order(&self, order: &NewOrder) -> Result<Order, StoreError> {
        let quantities: Vec<i32> = order.items.iter().map(|item| item.quantity).collect();
        let plan = OrderPlan {
            total: quantities.iter().map(|&q| PRICE * Decimal::from(q)).sum(),
            product_ids: order.items.iter().map(|item| item.product_id).collect(),
            unit_prices: vec![PRICE; quantities.len()],
            quantities,
        };
        Ok(plan.into_order(order.user_id, 1, stamp()))
    }

    pub async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        Ok(User {
            id,
            username: format!("user{id}"),
            email: format!("user{id}@example.com"),
            created_at: stamp(),
            updated_at: stamp(),
        })
    }

    pub async fn create_user(&self, _: &NewUser) -> Result<User, StoreError> {
        absent()
    }
    pub async fn list_users(&self, _: Page) -> Result<Vec<User>, StoreError> {
        absent()
    }
    pub async fn update_user(&self, _: i64, _: &UserPatch) -> Result<User, StoreError> {
        absent()
    }
    pub async fn delete_user(&self, _: i64) -> Result<(), StoreError> {
        absent()
    }
    pub async fn list_user_orders(&self, _: i64, _: Page) -> Result<Vec<Order>, StoreError> {
        absent()
    }
    pub async fn create_product(&self, _: &NewProduct) -> Result<Product, StoreError> {
        absent()
    }
    pub async fn get_product(&self, _: i64) -> Result<Product, StoreError> {
        absent()
    }
    pub async fn list_products(
        &self,
        _: Option<&str>,
        _: Page,
    ) -> Result<Vec<Product>, StoreError> {
        absent()
    }
    pub async fn update_product(&self, _: i64, _: &ProductPatch) -> Result<Product, StoreError> {
        absent()
    }
    pub async fn delete_product(&self, _: i64) -> Result<(), StoreError> {
        absent()
    }
    pub async fn get_order(&self, _: i64) -> Result<Order, StoreError> {
        absent()
    }
    pub async fn cancel_order(&self, _: i64) -> Result<Order, StoreError> {
        absent()
    }
}
