//! The invariants every write to the shop keeps, checked after a test or a
//! run: stock is conserved (what is left plus what confirmed orders hold is
//! what was seeded, and never below zero), and every order's total is the
//! sum of its items. One query for every checker, so that a test and a
//! benchmark cannot disagree on what "nothing was lost" means.

use crate::Result;

/// At most this many broken rows are named per invariant.
const NAMED: i64 = 20;

/// One line per broken invariant, naming the product or order. Products
/// with an id above `seeded_products` (made during the run, with another
/// stock) are left out; every product started with `seeded_stock` units.
pub async fn violations(
    client: &tokio_postgres::Client,
    seeded_products: i64,
    seeded_stock: i64,
) -> Result<Vec<String>> {
    let stock = client
        .query(
            "WITH ledger AS (
                 SELECT p.id, p.stock_quantity::bigint AS left_in_stock,
                        COALESCE((SELECT sum(oi.quantity) FROM order_items oi JOIN orders o ON o.id = oi.order_id
                                  WHERE oi.product_id = p.id AND o.status = 'confirmed'), 0)::bigint AS sold
                 FROM products p WHERE p.id <= $1
             )
             SELECT id, left_in_stock, sold FROM ledger
             WHERE left_in_stock < 0 OR left_in_stock + sold <> $2
             ORDER BY id LIMIT $3",
            &[&seeded_products, &seeded_stock, &NAMED],
        )
        .await?;
    let totals = client
        .query(
            "SELECT o.id, o.total_amount::text, COALESCE(sum(oi.quantity * oi.unit_price), 0)::text
             FROM orders o LEFT JOIN order_items oi ON oi.order_id = o.id
             GROUP BY o.id HAVING o.total_amount <> COALESCE(sum(oi.quantity * oi.unit_price), 0)
             ORDER BY o.id LIMIT $1",
            &[&NAMED],
        )
        .await?;
    let stock = stock.iter().map(|row| {
        let (id, left, sold): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        format!(
            "product {id}: stock {left} + confirmed order quantity {sold} = {} but it was seeded with {seeded_stock}",
            left + sold
        )
    });
    let totals = totals.iter().map(|row| {
        let (id, total, items): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        format!("order {id}: total {total} but its items sum to {items}")
    });
    Ok(stock.chain(totals).collect())
}
