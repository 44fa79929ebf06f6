//! Wall-clock micro-benchmarks (criterion): `cargo bench --bench time`.
//! For people on a quiet machine; CI gates on instruction counts instead
//! (`benches/instructions.rs`), which a noisy machine does not move.

use criterion::{criterion_group, criterion_main, Criterion};
use loadgen::measure::steps::StepStats;
use stackbench_benches::servers::{self, Call, HEALTH, PLACE_ORDER};
use stackbench_benches::{self as bodies, loadgen_parts, Fixtures};

fn domain(c: &mut Criterion) {
    let fixtures = Fixtures::new();
    let money = bodies::money_fixture();
    c.bench_function("json/encode order of 5 items", |b| {
        b.iter(|| bodies::encode_order(&fixtures.order))
    });
    c.bench_function("json/encode page of 20 products", |b| {
        b.iter(|| bodies::encode_product_page(&fixtures.products))
    });
    c.bench_function("json/decode and validate order of 5 items", |b| {
        b.iter(|| bodies::decode_new_order(bodies::NEW_ORDER_JSON))
    });
    c.bench_function("validate/order of 5 items", |b| {
        b.iter(|| bodies::validate_new_order(&fixtures.new_order))
    });
    c.bench_function("money/format 5 amounts", |b| {
        b.iter(|| bodies::format_money(&money))
    });
}

fn requests(c: &mut Criterion) {
    let calls: [(&str, Call); 2] = [("GET /health", HEALTH), ("POST /orders", PLACE_ORDER)];
    for (name, call) in calls {
        let mut hyper = servers::Hyper::new(call);
        c.bench_function(&format!("hyper/{name}"), |b| b.iter(|| hyper.round_trip()));
        let mut axum = servers::Axum::new(call);
        c.bench_function(&format!("axum/{name}"), |b| b.iter(|| axum.round_trip()));
        let mut actix = servers::Actix::new(call);
        c.bench_function(&format!("actix/{name}"), |b| b.iter(|| actix.round_trip()));
    }
}

fn load_generator(c: &mut Criterion) {
    let template = loadgen_parts::order_template();
    let mut buffer = Vec::new();
    c.bench_function("loadgen/render 100 order bodies", |b| {
        b.iter(|| loadgen_parts::render_orders(&template, &mut buffer))
    });
    let mut spare = Vec::new();
    c.bench_function("loadgen/parse a response head", |b| {
        b.iter(|| loadgen_parts::parse_response(loadgen_parts::RESPONSE, &mut spare))
    });
    let latencies = loadgen_parts::latencies();
    let (mut step, mut total) = (StepStats::default(), StepStats::default());
    c.bench_function("loadgen/record 1000 latencies and merge", |b| {
        b.iter(|| loadgen_parts::record_and_merge(&latencies, &mut step, &mut total))
    });
}

criterion_group!(benches, domain, requests, load_generator);
criterion_main!(benches);
