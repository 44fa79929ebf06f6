//! The store on both drivers, against a real PostgreSQL: every operation and
//! its error paths. Each test runs once per driver on a database of its own.

use rust_decimal::Decimal;
use schema::testing::TestDatabase;
use shop::http::Page;
use shop::model::{
    NewOrder, NewOrderItem, NewProduct, NewUser, OrderStatus, ProductPatch, UserPatch,
};
use shop::money::Money;
use std::time::Duration;

use shop::{DbTimeouts, Driver, Store, StoreError};

const DRIVERS: [Driver; 2] = [Driver::TokioPostgres, Driver::Sqlx];

async fn store(driver: Driver) -> (TestDatabase, Store) {
    let db = TestDatabase::create().await.expect("a test database");
    let store = Store::connect(driver, &db.url, 4)
        .await
        .expect("store connects");
    (db, store)
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_string(),
        email: format!("{name}@example.com"),
    }
}

fn new_product(name: &str, price: &str, stock: i64, category: &str) -> NewProduct {
    NewProduct {
        name: name.to_string(),
        description: format!("about {name}"),
        price: Money::parse(price).unwrap().into(),
        stock_quantity: stock,
        category: category.to_string(),
    }
}

fn order_of(user_id: i64, items: &[(i64, i32)]) -> NewOrder {
    NewOrder {
        user_id,
        items: items
            .iter()
            .map(|&(product_id, quantity)| NewOrderItem {
                product_id,
                quantity,
            })
            .collect(),
    }
}

fn money(text: &str) -> Money {
    Money::parse(text).unwrap()
}

#[tokio::test]
async fn users_round_trip_and_conflict() {
    for driver in DRIVERS {
        let (_db, store) = store(driver).await;
        let alice = store.create_user(&new_user("alice")).await.unwrap();
        let bob = store.create_user(&new_user("bob")).await.unwrap();
        assert!(bob.id > alice.id);
        assert_eq!(store.get_user(alice.id).await.unwrap(), alice);

        let page = store
            .list_users(Page {
                limit: 1,
                offset: 1,
            })
            .await
            .unwrap();
        assert_eq!(page, vec![bob.clone()], "{driver:?}");

        let duplicate_name = NewUser {
            username: "alice".into(),
            email: "other@example.com".into(),
        };
        match store.create_user(&duplicate_name).await {
            Err(StoreError::Conflict(message)) => {
                assert!(message.contains("username"), "{message}")
            }
            other => panic!("{driver:?}: expected a username conflict, got {other:?}"),
        }
        let duplicate_email = NewUser {
            username: "alice2".into(),
            email: "alice@example.com".into(),
        };
        assert!(
            matches!(store.create_user(&duplicate_email).await, Err(StoreError::Conflict(m)) if m.contains("email"))
        );

        let patch = UserPatch {
            username: None,
            email: Some("alice@new.example.com".into()),
        };
        let patched = store.update_user(alice.id, &patch).await.unwrap();
        assert_eq!(patched.username, "alice");
        assert_eq!(patched.email, "alice@new.example.com");
        assert!(
            patched.updated_at > alice.updated_at,
            "{driver:?}: updated_at not bumped"
        );
        assert_eq!(patched.created_at, alice.created_at);
        let steal = UserPatch {
            username: Some("bob".into()),
            email: None,
        };
        assert!(matches!(
            store.update_user(alice.id, &steal).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.update_user(999, &patch).await,
            Err(StoreError::NotFound(_))
        ));

        store.delete_user(bob.id).await.unwrap();
        assert!(matches!(
            store.get_user(bob.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.delete_user(bob.id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn products_round_trip_with_categories() {
    for driver in DRIVERS {
        let (_db, store) = store(driver).await;
        let lamp = store
            .create_product(&new_product("Lamp", "19.99", 5, "home"))
            .await
            .unwrap();
        let book = store
            .create_product(&new_product("Book", "7", 3, "books"))
            .await
            .unwrap();
        let rug = store
            .create_product(&new_product(
                "Rug 'n' \"quotes\"; DROP TABLE products;--",
                "120.50",
                1,
                "home",
            ))
            .await
            .unwrap();
        assert_eq!(lamp.price, money("19.99"));
        assert_eq!(serde_json::to_value(book.price).unwrap(), "7.00");
        assert_eq!(
            store.get_product(rug.id).await.unwrap().name,
            "Rug 'n' \"quotes\"; DROP TABLE products;--"
        );

        let home = store
            .list_products(Some("home"), Page::default())
            .await
            .unwrap();
        assert_eq!(
            home.iter().map(|p| p.id).collect::<Vec<_>>(),
            [lamp.id, rug.id]
        );
        let all = store
            .list_products(
                None,
                Page {
                    limit: 2,
                    offset: 0,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|p| p.id).collect::<Vec<_>>(),
            [lamp.id, book.id]
        );
        assert!(store
            .list_products(Some("none"), Page::default())
            .await
            .unwrap()
            .is_empty());

        let patch = ProductPatch {
            price: Some(money("21.50").into()),
            stock_quantity: Some(9),
            ..ProductPatch::default()
        };
        let patched = store.update_product(lamp.id, &patch).await.unwrap();
        assert_eq!((patched.price, patched.stock_quantity), (money("21.50"), 9));
        assert_eq!(patched.name, "Lamp");
        assert!(patched.updated_at > lamp.updated_at);

        store.delete_product(book.id).await.unwrap();
        assert!(matches!(
            store.get_product(book.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.delete_product(book.id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

/// Stock of each product, by id.
async fn stock(db: &TestDatabase) -> Vec<(i64, i32)> {
    db.client()
        .await
        .unwrap()
        .query("SELECT id, stock_quantity FROM products ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn row_counts(db: &TestDatabase) -> [i64; 4] {
    schema::seed::counts(&db.client().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn orders_are_all_or_nothing() {
    for driver in DRIVERS {
        let (db, store) = store(driver).await;
        let user = store.create_user(&new_user("buyer")).await.unwrap();
        let a = store
            .create_product(&new_product("A", "10.25", 5, "x"))
            .await
            .unwrap();
        let b = store
            .create_product(&new_product("B", "3.10", 2, "x"))
            .await
            .unwrap();

        let order = store
            .create_order(&order_of(user.id, &[(b.id, 2), (a.id, 3)]))
            .await
            .unwrap();
        assert_eq!(order.status, OrderStatus::Confirmed);
        assert_eq!(order.total_amount, money("36.95"), "{driver:?}");
        let items: Vec<_> = order
            .items
            .iter()
            .map(|i| (i.product_id, i.quantity, i.unit_price))
            .collect();
        assert_eq!(items, [(b.id, 2, money("3.10")), (a.id, 3, money("10.25"))]);
        assert_eq!(stock(&db).await, [(a.id, 2), (b.id, 0)]);
        assert_eq!(store.get_order(order.id).await.unwrap(), order);

        // Each failure leaves every table exactly as it was.
        let before = (stock(&db).await, row_counts(&db).await);
        match store
            .create_order(&order_of(user.id, &[(a.id, 1), (b.id, 1)]))
            .await
        {
            Err(StoreError::InsufficientStock {
                product_id,
                requested: 1,
                available: 0,
            }) => assert_eq!(product_id, b.id),
            other => panic!("{driver:?}: expected insufficient stock, got {other:?}"),
        }
        match store
            .create_order(&order_of(user.id, &[(a.id, 1), (9999, 1)]))
            .await
        {
            Err(StoreError::UnknownReference(message)) => {
                assert!(message.contains("9999"), "{message}")
            }
            other => panic!("{driver:?}: expected an unknown product, got {other:?}"),
        }
        assert!(matches!(
            store.create_order(&order_of(4242, &[(a.id, 1)])).await,
            Err(StoreError::UnknownReference(m)) if m.contains("4242")
        ));
        let pricey = store
            .create_product(&new_product("P", "999999999.99", 1000, "x"))
            .await
            .unwrap();
        let before_pricey = (stock(&db).await, row_counts(&db).await);
        assert!(matches!(
            store
                .create_order(&order_of(user.id, &[(pricey.id, 1000)]))
                .await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!((stock(&db).await, row_counts(&db).await), before_pricey);
        store.delete_product(pricey.id).await.unwrap();
        assert_eq!((stock(&db).await, row_counts(&db).await), before);

        // A user with orders and an ordered product cannot be deleted.
        assert!(matches!(
            store.delete_user(user.id).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.delete_product(a.id).await,
            Err(StoreError::Conflict(_))
        ));

        let listed = store
            .list_user_orders(user.id, Page::default())
            .await
            .unwrap();
        assert_eq!(listed, vec![order.clone()]);
        assert!(matches!(
            store.list_user_orders(777, Page::default()).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.get_order(order.id + 100).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn cancelling_restores_stock_once() {
    for driver in DRIVERS {
        let (db, store) = store(driver).await;
        let user = store.create_user(&new_user("canceller")).await.unwrap();
        let a = store
            .create_product(&new_product("A", "1.00", 4, "x"))
            .await
            .unwrap();
        let b = store
            .create_product(&new_product("B", "2.00", 4, "x"))
            .await
            .unwrap();
        let order = store
            .create_order(&order_of(user.id, &[(a.id, 3), (b.id, 1)]))
            .await
            .unwrap();
        assert_eq!(stock(&db).await, [(a.id, 1), (b.id, 3)]);

        let cancelled = store.cancel_order(order.id).await.unwrap();
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!(cancelled.items, order.items);
        assert_eq!(cancelled.total_amount, order.total_amount);
        assert_eq!(stock(&db).await, [(a.id, 4), (b.id, 4)]);

        assert!(
            matches!(
                store.cancel_order(order.id).await,
                Err(StoreError::Conflict(_))
            ),
            "{driver:?}"
        );
        assert_eq!(
            stock(&db).await,
            [(a.id, 4), (b.id, 4)],
            "a second cancel restored stock again"
        );
        assert!(matches!(
            store.cancel_order(order.id + 1).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            store.get_order(order.id).await.unwrap().status,
            OrderStatus::Cancelled
        );
    }
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let port = schema::free_port(None).unwrap();
    let url = format!("postgres://nobody@127.0.0.1:{port}/none");
    for driver in DRIVERS {
        match Store::connect(driver, &url, 2).await {
            Err(StoreError::Unavailable(_) | StoreError::Unreachable(_)) => {}
            Err(other) => panic!("{driver:?}: expected unavailable, got {other:?}"),
            Ok(_) => panic!("{driver:?}: connected to nothing"),
        }
    }
}

/// The timeouts are set on every pooled connection: a statement waiting
/// for a lock held elsewhere fails after `lock_timeout` (a 503), and
/// succeeds once the lock is released.
#[tokio::test]
async fn connection_timeouts_apply() {
    let timeouts = DbTimeouts {
        statement: Duration::from_millis(1500),
        lock: Duration::from_millis(200),
        idle_in_transaction: Duration::from_secs(7),
    };
    for driver in DRIVERS {
        let db = TestDatabase::create().await.expect("a test database");
        let store = Store::connect_with(driver, &db.url, 2, timeouts)
            .await
            .expect("store connects");
        let product = store
            .create_product(&new_product("locked", "1.00", 5, "tools"))
            .await
            .unwrap();
        let holder = db.client().await.unwrap();
        holder.batch_execute("BEGIN").await.unwrap();
        holder
            .execute(
                "SELECT 1 FROM products WHERE id = $1 FOR UPDATE",
                &[&product.id],
            )
            .await
            .unwrap();
        let patch = ProductPatch {
            stock_quantity: Some(9),
            ..ProductPatch::default()
        };
        let started = std::time::Instant::now();
        let result = store.update_product(product.id, &patch).await;
        let took = started.elapsed();
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{driver:?}: {result:?}"
        );
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_millis(1000),
            "{driver:?}: waited {took:?} for a lock, lock_timeout 200ms"
        );
        holder.batch_execute("ROLLBACK").await.unwrap();
        store
            .update_product(product.id, &patch)
            .await
            .expect("the lock is gone");
    }
}

/// The invariants of the data after any mix of orders and cancels.
async fn assert_stock_conserved(db: &TestDatabase, initial: i32) {
    let client = db.client().await.unwrap();
    let broken = schema::ledger::violations(&client, i64::MAX, i64::from(initial))
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:#?}");
}

/// 40 tasks race for 5 hot products of stock 10, one unit at a time. Exactly
/// 10 orders per product may succeed, every other one must fail cleanly with
/// insufficient stock, and stock must be conserved.
///
/// Checked to fail without the row locks: with `FOR UPDATE` removed from
/// `LOCK_PRODUCTS` in `servers/shop/src/store/sql.rs`, concurrent orders
/// decide on stale stock and the CHECK (stock_quantity >= 0) aborts them with
/// a database error instead of insufficient stock, so this test fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_never_oversell() {
    const TASKS: usize = 40;
    const HOT: usize = 5;
    const STOCK: i32 = 10;
    for driver in DRIVERS {
        let db = TestDatabase::create().await.unwrap();
        let store = Store::connect(driver, &db.url, 16).await.unwrap();
        let client = db.client().await.unwrap();
        schema::seed::reset(
            &client,
            schema::Dataset {
                users: TASKS as u32,
                products: HOT as u32,
                stock: STOCK as u32,
            },
        )
        .await
        .unwrap();

        let tasks = (0..TASKS).map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                // Each task visits the products in its own rotation.
                for step in 0..HOT {
                    let product = ((task + step) % HOT + 1) as i64;
                    let outcome = store
                        .create_order(&order_of(task as i64 + 1, &[(product, 1)]))
                        .await;
                    outcomes.push((product, outcome));
                }
                outcomes
            })
        });
        let mut confirmed = vec![0; HOT];
        for task in tasks.collect::<Vec<_>>() {
            for (product, outcome) in task.await.unwrap() {
                match outcome {
                    Ok(_) => confirmed[product as usize - 1] += 1,
                    Err(StoreError::InsufficientStock { available: 0, .. }) => {}
                    Err(other) => panic!("{driver:?}: an order failed with {other:?}"),
                }
            }
        }
        assert_eq!(
            confirmed,
            vec![STOCK; HOT],
            "{driver:?}: orders confirmed per product"
        );
        assert_eq!(
            stock(&db).await.iter().map(|s| s.1).collect::<Vec<_>>(),
            vec![0; HOT]
        );
        assert_stock_conserved(&db, STOCK).await;
    }
}

/// 32 tasks place multi-item orders over the same 5 products, listing them in
/// every order and cancelling some, while stock runs out: no deadlock, no
/// error but insufficient stock, stock conserved, totals equal their items.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_multi_item_orders_and_cancels_keep_the_invariants() {
    const TASKS: u64 = 32;
    const STOCK: i32 = 30;
    for driver in DRIVERS {
        let db = TestDatabase::create().await.unwrap();
        let store = Store::connect(driver, &db.url, 16).await.unwrap();
        let client = db.client().await.unwrap();
        schema::seed::reset(
            &client,
            schema::Dataset {
                users: TASKS as u32,
                products: 5,
                stock: STOCK as u32,
            },
        )
        .await
        .unwrap();

        let tasks = (0..TASKS).map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut placed = 0;
                // A small deterministic generator per task.
                let mut state = task
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let mut next = |n: u64| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 33) % n
                };
                for round in 0..8 {
                    let count = 1 + next(3) as usize;
                    let start = next(5);
                    // Descending or ascending id order, so lock order must not depend on it.
                    let items: Vec<(i64, i32)> = (0..count as u64)
                        .map(|k| {
                            let id = if round % 2 == 0 {
                                (start + k) % 5 + 1
                            } else {
                                (start + 5 - k) % 5 + 1
                            };
                            (id as i64, 1 + next(3) as i32)
                        })
                        .collect();
                    match store.create_order(&order_of(task as i64 + 1, &items)).await {
                        Ok(order) => {
                            placed += 1;
                            if next(3) == 0 {
                                store
                                    .cancel_order(order.id)
                                    .await
                                    .expect("cancel of a confirmed order");
                            }
                        }
                        Err(StoreError::InsufficientStock { .. }) => {}
                        Err(other) => panic!("{driver:?}: order {items:?} failed with {other:?}"),
                    }
                }
                placed
            })
        });
        let mut placed = 0;
        for task in tasks.collect::<Vec<_>>() {
            placed += task.await.unwrap();
        }
        assert!(placed > 0, "{driver:?}: no order succeeded");
        assert_stock_conserved(&db, STOCK).await;
        let sum: Decimal = client
            .query_one("SELECT COALESCE(sum(total_amount), 0) FROM orders", &[])
            .await
            .unwrap()
            .get(0);
        assert!(sum > Decimal::ZERO);
    }
}
