//! Domain types: what the API reads and writes, and the rules its input obeys.
//!
//! Request types are deserialized strictly (unknown fields are an error, so a
//! typo in a PATCH cannot silently change nothing) and then checked by
//! [`Validate`]; the JSON helpers in [`crate::http`] do both, so a handler
//! only ever sees valid input.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::money::{Money, Price};
use crate::objects::objects;

pub type Timestamp = DateTime<Utc>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub price: Money,
    pub stock_quantity: i32,
    pub category: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Confirmed,
    Cancelled,
}

impl OrderStatus {
    pub fn parse(text: &str) -> Option<OrderStatus> {
        match text {
            "confirmed" => Some(OrderStatus::Confirmed),
            "cancelled" => Some(OrderStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub status: OrderStatus,
    pub total_amount: Money,
    pub created_at: Timestamp,
    pub items: Vec<OrderItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderItem {
    pub product_id: i64,
    pub quantity: i32,
    pub unit_price: Money,
}

/// Checks the rules of the contract that types alone cannot express.
pub trait Validate {
    fn validate(&self) -> Result<(), ApiError>;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub email: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price: Price,
    pub stock_quantity: i64,
    pub category: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<Price>,
    pub stock_quantity: Option<i64>,
    pub category: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub user_id: i64,
    #[serde(deserialize_with = "objects")]
    pub items: Vec<NewOrderItem>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrderItem {
    pub product_id: i64,
    pub quantity: i32,
}

pub const USERNAME_LEN: std::ops::RangeInclusive<usize> = 3..=50;
pub const EMAIL_MAX_LEN: usize = 254;
pub const NAME_LEN: std::ops::RangeInclusive<usize> = 1..=200;
pub const DESCRIPTION_MAX_LEN: usize = 2000;
pub const CATEGORY_LEN: std::ops::RangeInclusive<usize> = 1..=50;
pub const MAX_STOCK: i64 = 1_000_000_000;
pub const MAX_ORDER_ITEMS: usize = 50;
pub const QUANTITY: std::ops::RangeInclusive<i32> = 1..=1000;

fn check(ok: bool, message: impl FnOnce() -> String) -> Result<(), ApiError> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(message()))
    }
}

fn check_username(username: &str) -> Result<(), ApiError> {
    check(
        USERNAME_LEN.contains(&username.len())
            && username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')),
        || "username must be 3 to 50 characters of A-Z, a-z, 0-9, '_', '.' or '-'".into(),
    )
}

fn check_email(email: &str) -> Result<(), ApiError> {
    let valid = email.chars().count() <= EMAIL_MAX_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|label| !label.is_empty())
            }
            None => false,
        };
    check(valid, || {
        "email must be at most 254 characters with one '@' and a dotted domain, like name@example.com"
            .into()
    })
}

/// PostgreSQL's text cannot hold the NUL character: refused here, as bad
/// input, before the database would refuse it as an error.
pub fn check_no_nul(field: &str, value: &str) -> Result<(), ApiError> {
    check(!value.contains('\0'), || {
        format!("{field} must not contain the NUL character (\\u0000)")
    })
}

fn check_chars(
    field: &str,
    value: &str,
    len: std::ops::RangeInclusive<usize>,
) -> Result<(), ApiError> {
    check(len.contains(&value.chars().count()), || {
        format!(
            "{field} must be {} to {} characters",
            len.start(),
            len.end()
        )
    })?;
    check_no_nul(field, value)
}

fn check_description(description: &str) -> Result<(), ApiError> {
    check(description.chars().count() <= DESCRIPTION_MAX_LEN, || {
        format!("description must be at most {DESCRIPTION_MAX_LEN} characters")
    })?;
    check_no_nul("description", description)
}

/// The one message for every price the contract refuses, whatever is wrong
/// with it, so that no stack has to word a parser's view of a number.
pub const PRICE_RULE: &str = "price must be greater than 0 and less than 1000000000 with at most \
     two decimals, like 19.99 or \"19.99\"";

fn check_price(price: Price) -> Result<(), ApiError> {
    let in_range = |money: Money| {
        money.0 > rust_decimal::Decimal::ZERO
            && money.0 < rust_decimal::Decimal::from(1_000_000_000)
    };
    check(price.amount().is_some_and(in_range), || PRICE_RULE.into())
}

fn check_stock(stock: i64) -> Result<(), ApiError> {
    check((0..=MAX_STOCK).contains(&stock), || {
        format!("stock_quantity must be between 0 and {MAX_STOCK}")
    })
}

impl Validate for NewUser {
    fn validate(&self) -> Result<(), ApiError> {
        check_username(&self.username)?;
        check_email(&self.email)
    }
}

impl Validate for UserPatch {
    fn validate(&self) -> Result<(), ApiError> {
        check(self.username.is_some() || self.email.is_some(), || {
            "a user patch must set at least one of username, email".into()
        })?;
        self.username.as_deref().map_or(Ok(()), check_username)?;
        self.email.as_deref().map_or(Ok(()), check_email)
    }
}

impl Validate for NewProduct {
    fn validate(&self) -> Result<(), ApiError> {
        check_chars("name", &self.name, NAME_LEN)?;
        check_description(&self.description)?;
        check_price(self.price)?;
        check_stock(self.stock_quantity)?;
        check_chars("category", &self.category, CATEGORY_LEN)
    }
}

impl Validate for ProductPatch {
    fn validate(&self) -> Result<(), ApiError> {
        let ProductPatch {
            name,
            description,
            price,
            stock_quantity,
            category,
        } = self;
        check(
            name.is_some()
                || description.is_some()
                || price.is_some()
                || stock_quantity.is_some()
                || category.is_some(),
            || {
                "a product patch must set at least one of name, description, price, \
                 stock_quantity, category"
                    .into()
            },
        )?;
        name.as_deref()
            .map_or(Ok(()), |n| check_chars("name", n, NAME_LEN))?;
        description.as_deref().map_or(Ok(()), check_description)?;
        price.map_or(Ok(()), check_price)?;
        stock_quantity.map_or(Ok(()), check_stock)?;
        category
            .as_deref()
            .map_or(Ok(()), |c| check_chars("category", c, CATEGORY_LEN))
    }
}

impl Validate for NewOrder {
    fn validate(&self) -> Result<(), ApiError> {
        check(self.user_id > 0, || {
            "user_id must be a positive integer".into()
        })?;
        check((1..=MAX_ORDER_ITEMS).contains(&self.items.len()), || {
            format!("an order must have 1 to {MAX_ORDER_ITEMS} items")
        })?;
        for (index, item) in self.items.iter().enumerate() {
            check(item.product_id > 0, || {
                format!("items[{index}].product_id must be a positive integer")
            })?;
            check(QUANTITY.contains(&item.quantity), || {
                format!(
                    "items[{index}].quantity must be between {} and {}",
                    QUANTITY.start(),
                    QUANTITY.end()
                )
            })?;
            check(
                !self.items[..index]
                    .iter()
                    .any(|earlier| earlier.product_id == item.product_id),
                || {
                    format!(
                        "product {} appears more than once; list each product once",
                        item.product_id
                    )
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: &str, email: &str) -> NewUser {
        NewUser {
            username: username.into(),
            email: email.into(),
        }
    }

    #[test]
    fn usernames_and_emails_follow_the_contract() {
        assert!(user("abc", "a@b.co").validate().is_ok());
        assert!(user("a.b-c_9", "first.last@mail.example.com")
            .validate()
            .is_ok());
        assert!(user("ab", "a@b.co").validate().is_err());
        assert!(user(&"x".repeat(51), "a@b.co").validate().is_err());
        assert!(user("has space", "a@b.co").validate().is_err());
        assert!(user("ünï", "a@b.co").validate().is_err());
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a@b@c.co", "a@.co", "a@b.", "a b@c.co",
        ] {
            assert!(user("abc", bad).validate().is_err(), "{bad} accepted");
        }
        let long = format!("{}@example.com", "x".repeat(250));
        assert!(user("abc", &long).validate().is_err());
    }

    #[test]
    fn orders_reject_duplicates_and_bad_quantities() {
        let order = |items: &[(i64, i32)]| NewOrder {
            user_id: 1,
            items: items
                .iter()
                .map(|&(product_id, quantity)| NewOrderItem {
                    product_id,
                    quantity,
                })
                .collect(),
        };
        assert!(order(&[(1, 1), (2, 1000)]).validate().is_ok());
        assert!(order(&[]).validate().is_err());
        assert!(order(&[(1, 1), (1, 2)]).validate().is_err());
        assert!(order(&[(1, 0)]).validate().is_err());
        assert!(order(&[(1, 1001)]).validate().is_err());
        assert!(order(&[(0, 1)]).validate().is_err());
        let many: Vec<(i64, i32)> = (1..=51).map(|id| (id, 1)).collect();
        assert!(order(&many).validate().is_err());
    }
}
