//! The schema against a real PostgreSQL: migrations and seed data.

use schema::testing::TestDatabase;
use schema::{migrate, seed, Dataset};

#[tokio::test]
async fn migrations_apply_to_an_empty_database_once() {
    let db = TestDatabase::unmigrated().await.unwrap();
    let client = db.client().await.unwrap();
    let applied = migrate::run(&client).await.unwrap();
    assert_eq!(applied.len(), migrate::MIGRATIONS.len());
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "order_items",
            "orders",
            "products",
            "schema_migrations",
            "users"
        ]
    );
    let indexes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname IN \
             ('products_category_id_idx', 'orders_user_id_id_idx', \
              'order_items_order_id_idx', 'order_items_product_id_idx')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 4);
    assert!(
        migrate::run(&client).await.unwrap().is_empty(),
        "second run applied again"
    );
}

async fn fingerprint(client: &tokio_postgres::Client) -> (String, String) {
    let row = client
        .query_one(
            "SELECT (SELECT md5(string_agg(u::text, '|' ORDER BY id)) FROM users u),
                    (SELECT md5(string_agg(p::text, '|' ORDER BY id)) FROM products p)",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn seeding_is_deterministic_and_exact() {
    let db = TestDatabase::create().await.unwrap();
    let client = db.client().await.unwrap();
    let dataset = Dataset {
        users: 500,
        products: 120,
        stock: 7,
    };
    seed::reset(&client, dataset).await.unwrap();
    let first = fingerprint(&client).await;
    assert_eq!(seed::counts(&client).await.unwrap(), [500, 120, 0, 0]);

    // Dirty the data, then reset again: the same rows come back.
    client
        .batch_execute(
            "INSERT INTO users (username, email) VALUES ('extra', 'extra@example.com');
             UPDATE products SET stock_quantity = 0 WHERE id = 3;",
        )
        .await
        .unwrap();
    seed::reset(&client, dataset).await.unwrap();
    assert_eq!(fingerprint(&client).await, first);

    let row = client
        .query_one(
            "SELECT min(stock_quantity), max(stock_quantity), count(DISTINCT category),
                    min(price) > 0, (SELECT max(id) FROM users)
             FROM products",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 7);
    assert_eq!(row.get::<_, i32>(1), 7);
    assert_eq!(row.get::<_, i64>(2), seed::CATEGORIES.len() as i64);
    assert!(row.get::<_, bool>(3));
    assert_eq!(row.get::<_, i64>(4), 500);

    // Sequences continue after the seeded ids.
    let next: i64 = client
        .query_one(
            "INSERT INTO users (username, email) VALUES ('next', 'next@example.com') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 501);
}

#[tokio::test]
async fn an_empty_dataset_is_allowed() {
    let db = TestDatabase::create().await.unwrap();
    let client = db.client().await.unwrap();
    let empty = Dataset {
        users: 0,
        products: 0,
        stock: 0,
    };
    seed::reset(&client, empty).await.unwrap();
    assert_eq!(seed::counts(&client).await.unwrap(), [0, 0, 0, 0]);
}

/// `create_database` takes any name a URL can carry, quoting it in SQL.
#[tokio::test]
async fn create_database_marks_and_migrates_a_database_of_any_name() {
    let anchor = TestDatabase::create().await.unwrap();
    let name = format!("Odd \"name\" {}", std::process::id());
    let encoded = name.replace(' ', "%20").replace('"', "%22");
    let url = schema::testing::with_database(&anchor.url, &encoded);
    assert!(schema::create_database(&url).await.unwrap());
    assert!(!schema::create_database(&url).await.unwrap(), "second time");
    let client = schema::connect(&url).await.unwrap();
    schema::marker::check(&client).await.unwrap();
    seed::reset(
        &client,
        Dataset {
            users: 2,
            products: 1,
            stock: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(seed::counts(&client).await.unwrap(), [2, 1, 0, 0]);
    drop(client);
    let admin = schema::connect(&anchor.url).await.unwrap();
    admin
        .batch_execute(&format!(
            "DROP DATABASE \"{}\" WITH (FORCE)",
            name.replace('"', "\"\"")
        ))
        .await
        .unwrap();
}
