//! The fault suite: what clients and the database do to a server under
//! load, against every server × driver, each a real process on a real
//! database. Nothing acknowledged may be lost, and nothing may be left
//! half done.

use std::time::Duration;

use conformance::{Server, DATASET};
use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Orders whose clients hang up, and how many are in the air at once.
const HANG_UPS: usize = 1500;
const AT_ONCE: usize = 24;
/// Users created (one at a time, so through every pooled connection) after
/// the hang-ups; each answered 201 must be in the database.
const ACKNOWLEDGED: usize = 48;

/// Sends `POST /orders` and resets the connection (`SO_LINGER` 0) a moment
/// after, while the server is somewhere inside the request.
async fn hang_up(address: &str, n: usize) {
    let body = format!(
        r#"{{"user_id":{},"items":[{{"product_id":{},"quantity":1}},{{"product_id":{},"quantity":1}}]}}"#,
        n as u32 % DATASET.users + 1,
        n as u32 % DATASET.products + 1,
        (n as u32 + 7) % DATASET.products + 1,
    );
    let request = format!(
        "POST /orders HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return;
    };
    let _ = stream.set_zero_linger();
    if stream.write_all(request.as_bytes()).await.is_ok() {
        // 0 to ~2 ms: before, during and after the transaction's first round trips.
        tokio::time::sleep(Duration::from_micros((n as u64 * 397) % 2000)).await;
    }
    drop(stream);
}

/// Clients that hang up mid-request: afterwards no connection is idle in a
/// transaction, every acknowledged write is in the database, and for every
/// product stock plus confirmed order quantities equals the seeded stock.
async fn clients_hang_up(server: &str, driver: &str) {
    let s = Server::start(server, driver).await;
    let address = s.base.trim_start_matches("http://").to_string();
    for batch in (0..HANG_UPS).collect::<Vec<_>>().chunks(AT_ONCE) {
        join_all(batch.iter().map(|&n| hang_up(&address, n))).await;
    }
    let mut acknowledged = Vec::new();
    for n in 0..ACKNOWLEDGED {
        let body = format!(r#"{{"username":"after{n}","email":"after{n}@example.com"}}"#);
        let reply = s.call("POST", "/users", Some(&body)).await;
        let user = reply.expect(201);
        acknowledged.push(user["id"].as_i64().unwrap());
    }

    let db = s.db.client().await.unwrap();
    let missing: Vec<i64> = db
        .query(
            "SELECT id FROM unnest($1::bigint[]) AS acknowledged(id) \
             WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = acknowledged.id)",
            &[&acknowledged],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        missing.is_empty(),
        "{server}/{driver}: {} of {ACKNOWLEDGED} users answered 201 are not in the database: {missing:?}",
        missing.len()
    );
    // Orders still running may sit between two statements for a moment; a
    // connection left inside a transaction stays there for good.
    let mut idle_in_transaction = 0;
    for _ in 0..30 {
        idle_in_transaction = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if idle_in_transaction == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        idle_in_transaction, 0,
        "{server}/{driver}: pooled connections left inside a transaction"
    );
    let broken: Vec<String> = db
        .query(
            "SELECT p.id, p.stock_quantity, COALESCE(sum(oi.quantity) FILTER (WHERE o.status = 'confirmed'), 0) \
             FROM products p LEFT JOIN order_items oi ON oi.product_id = p.id \
             LEFT JOIN orders o ON o.id = oi.order_id \
             GROUP BY p.id HAVING p.stock_quantity + COALESCE(sum(oi.quantity) FILTER (WHERE o.status = 'confirmed'), 0) <> $1",
            &[&i64::from(DATASET.stock)],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let (id, stock, sold): (i64, i32, i64) = (row.get(0), row.get(1), row.get(2));
            format!("product {id}: stock {stock} + sold {sold}")
        })
        .collect();
    assert!(broken.is_empty(), "{server}/{driver}: {broken:?}");
}

conformance::every_stack!(hang_ups: super::clients_hang_up);
