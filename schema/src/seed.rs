//! Deterministic seed data, generated inside PostgreSQL with `generate_series`.
//!
//! Every value is a function of the row's id, so the same [`Dataset`] always
//! yields the same rows, timestamps included, and runs can be compared.

use tokio_postgres::Client;

/// The fixed set of product categories the seed spreads products over.
pub const CATEGORIES: [&str; 8] = [
    "books",
    "electronics",
    "garden",
    "grocery",
    "home",
    "sports",
    "toys",
    "clothing",
];

/// The size of a dataset: what `loadgen db reset` and scenarios ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub users: u32,
    pub products: u32,
    /// Initial `stock_quantity` of every product.
    pub stock: u32,
}

impl Dataset {
    /// The dataset of `loadgen db reset` and `loadgen serve --reset` when
    /// not told otherwise: small enough to seed in a blink.
    pub const SMALL: Dataset = Dataset {
        users: 1000,
        products: 100,
        stock: 1000,
    };
}

/// Empties every table and fills it with `dataset`, in one transaction.
/// User `i` is `user{i}` / `user{i}@example.com`; product `i` costs
/// `((i * 7919) mod 99900 + 100) / 100` and is in `CATEGORIES[i mod 8]`.
///
/// Every reset goes through here, so this is where a database stackbench
/// did not create is refused ([`crate::marker`]).
pub async fn reset(client: &Client, dataset: Dataset) -> crate::Result<()> {
    crate::marker::check(client).await?;
    let Dataset {
        users,
        products,
        stock,
    } = dataset;
    let categories = CATEGORIES
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let n_categories = CATEGORIES.len();
    // Integers only are interpolated; they cannot inject SQL.
    let script = format!(
        "BEGIN;
         TRUNCATE order_items, orders, products, users RESTART IDENTITY;
         INSERT INTO users (id, username, email, created_at, updated_at)
             SELECT i, 'user' || i, 'user' || i || '@example.com', ts, ts
             FROM generate_series(1, {users}::bigint) AS i,
                  LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second') AS t(ts);
         INSERT INTO products (id, name, description, price, stock_quantity, category, created_at, updated_at)
             SELECT i, 'Product ' || i, 'Seeded product number ' || i,
                    ((i * 7919) % 99900 + 100) / 100.0, {stock},
                    (ARRAY[{categories}])[1 + i % {n_categories}], ts, ts
             FROM generate_series(1, {products}::bigint) AS i,
                  LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second') AS t(ts);
         SELECT setval('users_id_seq', GREATEST({users}, 1), {users} > 0);
         SELECT setval('products_id_seq', GREATEST({products}, 1), {products} > 0);
         COMMIT;
         ANALYZE users, products, orders, order_items;"
    );
    if let Err(error) = client.batch_execute(&script).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(error.into());
    }
    Ok(())
}

/// Row counts of the four tables, in the order users, products, orders, order items.
pub async fn counts(client: &Client) -> crate::Result<[i64; 4]> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM products),
                    (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items)",
            &[],
        )
        .await?;
    Ok([row.get(0), row.get(1), row.get(2), row.get(3)])
}
