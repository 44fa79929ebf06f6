//! The bodies of stackbench's micro-benchmarks, shared by the two bench
//! targets: `benches/time.rs` times them with criterion, and
//! `benches/instructions.rs` counts their instructions under valgrind with
//! gungraun (the CI gate: counts are exact on a noisy machine, times are not).
//!
//! Each body is a named, non-inlined function, never a closure or an async
//! block inside a bench function: gungraun counts only what is called from
//! its wrapper, and a closure written inside it is left out. No PostgreSQL
//! and no sockets: the servers answer from `shop`'s stub store, and HTTP
//! goes over in-memory streams.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use server_runtime::AppState;
use shop::model::{NewOrder, Order, OrderItem, OrderStatus, Product, Validate};
use shop::money::Money;
use shop::store::stub::StubStore;
use shop::store::Store;

pub mod servers;

/// `POST /orders` with five items, as the `orders` scenario sends it.
pub const NEW_ORDER_JSON: &[u8] = br#"{"user_id": 4242, "items": [{"product_id": 17, "quantity": 2}, {"product_id": 256, "quantity": 1}, {"product_id": 311, "quantity": 3}, {"product_id": 512, "quantity": 1}, {"product_id": 999, "quantity": 2}]}"#;

/// The domain values the encode benchmarks write.
pub struct Fixtures {
    /// An order with five items.
    pub order: Order,
    /// A page of 20 products.
    pub products: Vec<Product>,
    pub new_order: NewOrder,
}

impl Fixtures {
    pub fn new() -> Fixtures {
        let stamp = Utc.timestamp_opt(1_714_564_800, 123_456_000).unwrap();
        let price = |cents: i64| Money(Decimal::new(cents, 2));
        let items: Vec<OrderItem> = (1..=5)
            .map(|n| OrderItem {
                product_id: n * 97,
                quantity: n as i32,
                unit_price: price(999 + n * 100),
            })
            .collect();
        let total = items
            .iter()
            .map(|item| item.unit_price.0 * Decimal::from(item.quantity))
            .sum();
        let products = (1..=20)
            .map(|id| Product {
                id,
                name: format!("Garden hose {id}"),
                description: "25 m, kink-free, with a brass coupling".into(),
                price: price(1999 + id),
                stock_quantity: 40 + id as i32,
                category: "garden".into(),
                created_at: stamp,
                updated_at: stamp,
            })
            .collect();
        Fixtures {
            order: Order {
                id: 123_456,
                user_id: 4242,
                status: OrderStatus::Confirmed,
                total_amount: Money(total),
                created_at: stamp,
                items,
            },
            products,
            new_order: shop::http::parse_json(NEW_ORDER_JSON).expect("the fixture is valid"),
        }
    }
}

impl Default for Fixtures {
    fn default() -> Fixtures {
        Fixtures::new()
    }
}

/// The state every server benchmark runs on: the stub store, no database.
pub fn stub_state() -> AppState {
    AppState {
        store: Store::Stub(StubStore),
        workers: 1,
        shutdown_timeout: std::time::Duration::from_secs(1),
        database: None,
    }
}

#[inline(never)]
pub fn encode_order(order: &Order) -> Vec<u8> {
    shop::http::to_json(black_box(order))
}

#[inline(never)]
pub fn encode_product_page(products: &[Product]) -> Vec<u8> {
    shop::http::to_json(&black_box(products))
}

/// Decoding and validating the body, as every server does with it.
#[inline(never)]
pub fn decode_new_order(json: &[u8]) -> NewOrder {
    shop::http::parse_json(black_box(json)).expect("valid order")
}

#[inline(never)]
pub fn validate_new_order(order: &NewOrder) -> bool {
    black_box(order).validate().is_ok()
}

#[inline(never)]
pub fn format_money(amounts: &[Money]) -> usize {
    black_box(amounts)
        .iter()
        .map(|amount| amount.to_string().len())
        .sum()
}

/// Amounts as the servers write them: whole, cents, large.
pub fn money_fixture() -> Vec<Money> {
    [1999, 5, 100_000, 99_999_999_999, 1050]
        .into_iter()
        .map(|cents| Money(Decimal::new(cents, 2)))
        .collect()
}

pub mod loadgen_parts {
    //! loadgen's hot pieces: what it does per request besides the network.

    use std::hint::black_box;

    use loadgen::engine::http1::{parse_head, HeadStatus};
    use loadgen::measure::steps::StepStats;
    use loadgen::scenario::template::{RenderContext, Template};

    /// The `orders` scenario's order body.
    pub fn order_template() -> Template {
        Template::compile(
            r#"{"user_id": {{random(1, 10000)}}, "items": {{items(1, 5, 1, 1000, 1, 3)}}}"#,
            &|_| None,
        )
        .expect("the template compiles")
    }

    /// Renders the order body 100 times into a reused buffer, with a fixed seed.
    #[inline(never)]
    pub fn render_orders(template: &Template, out: &mut Vec<u8>) -> usize {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counter = 0;
        let mut written = 0;
        for _ in 0..100 {
            out.clear();
            let mut context = RenderContext {
                rng: &mut rng,
                counter: &mut counter,
                counter_stride: 1,
                captured: &[],
                shard: loadgen::scenario::Shard::WHOLE,
            };
            black_box(template).render(out, &mut context);
            written += out.len();
        }
        written
    }

    /// A response as the servers send it for `GET /users/{id}`.
    pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 113\r\ndate: Sun, 22 Nov 2026 19:00:00 GMT\r\n\r\n{\"id\":42,\"username\":\"user42\",\"email\":\"user42@example.com\",\"created_at\":\"2024-05-01T12:00:00.123456Z\",\"updated_at\":\"2024-05-01T12:00:00.123456Z\"}";

    /// Parses a response head, as loadgen does for every response.
    #[inline(never)]
    pub fn parse_response(
        response: &[u8],
        spare: &mut loadgen::engine::http1::SpareHeaders,
    ) -> usize {
        match parse_head(black_box(response), spare, false) {
            Ok(HeadStatus::Final(head)) => head.length,
            other => panic!("the fixture parses: {other:?}"),
        }
    }

    /// Latencies spread like a run's: mostly around a millisecond, a tail to 200 ms.
    pub fn latencies() -> Vec<u64> {
        let mut rng = fastrand::Rng::with_seed(11);
        (0..1000)
            .map(|_| match rng.u32(0..100) {
                0 => rng.u64(20_000..200_000),
                1..=9 => rng.u64(2_000..20_000),
                _ => rng.u64(300..2_000),
            })
            .collect()
    }

    /// Records 1,000 responses into a step's histograms, then merges the
    /// step into a total, as each loadgen thread and the final report do.
    #[inline(never)]
    pub fn record_and_merge(latencies: &[u64], step: &mut StepStats, total: &mut StepStats) -> u64 {
        for &latency in black_box(latencies) {
            step.record_response(latency, latency / 2, 200);
        }
        total.merge(step);
        total.requests()
    }
}
