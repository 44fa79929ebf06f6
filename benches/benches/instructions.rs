//! Instruction-count micro-benchmarks (gungraun, under valgrind's
//! callgrind): the same bodies as `benches/time.rs`, each run once in its
//! own process with its setup and teardown left out of the count. Counts do
//! not move with the machine's load, so CI gates on them
//! (`scripts/instruction-gate.sh`).
//!
//! Every benchmark calls a named function of the library: gungraun counts
//! only code called from its wrapper, and a closure or async block written
//! here would be left out.

use gungraun::{library_benchmark, library_benchmark_group, main};
use loadgen::engine::http1::SpareHeaders;
use loadgen::measure::steps::StepStats;
use loadgen::scenario::template::Template;
use shop::model::{NewOrder, Order, Product};
use shop::money::Money;
use stackbench_benches::servers::{self, HEALTH, PLACE_ORDER};
use stackbench_benches::{self as bodies, loadgen_parts, Fixtures};

/// Teardown: drops what a benchmark returns outside the count.
fn discard<T>(value: T) {
    drop(value);
}

fn order() -> Order {
    Fixtures::new().order
}

fn products() -> Vec<Product> {
    Fixtures::new().products
}

fn new_order() -> NewOrder {
    Fixtures::new().new_order
}

#[library_benchmark(teardown = discard)]
#[bench::order_of_5_items(setup = order)]
fn encode_order(order: Order) -> (Vec<u8>, Order) {
    (bodies::encode_order(&order), order)
}

#[library_benchmark(teardown = discard)]
#[bench::page_of_20(setup = products)]
fn encode_products(products: Vec<Product>) -> (Vec<u8>, Vec<Product>) {
    (bodies::encode_product_page(&products), products)
}

#[library_benchmark(teardown = discard)]
#[bench::order_of_5_items()]
fn decode_order() -> NewOrder {
    bodies::decode_new_order(bodies::NEW_ORDER_JSON)
}

#[library_benchmark(teardown = discard)]
#[bench::order_of_5_items(setup = new_order)]
fn validate_order(order: NewOrder) -> (bool, NewOrder) {
    (bodies::validate_new_order(&order), order)
}

#[library_benchmark(teardown = discard)]
#[bench::five_amounts(setup = bodies::money_fixture)]
fn format_money(amounts: Vec<Money>) -> (usize, Vec<Money>) {
    (bodies::format_money(&amounts), amounts)
}

library_benchmark_group!(
    name = domain;
    benchmarks = encode_order, encode_products, decode_order, validate_order, format_money
);

fn hyper(call: servers::Call) -> servers::Hyper {
    let mut server = servers::Hyper::new(call);
    server.round_trip();
    server
}

fn axum(call: servers::Call) -> servers::Axum {
    let mut server = servers::Axum::new(call);
    server.round_trip();
    server
}

#[library_benchmark(teardown = discard)]
#[bench::get_health(args = (HEALTH), setup = hyper)]
#[bench::post_orders(args = (PLACE_ORDER), setup = hyper)]
fn hyper_request(mut server: servers::Hyper) -> (usize, servers::Hyper) {
    (server.round_trip(), server)
}

#[library_benchmark(teardown = discard)]
#[bench::get_health(args = (HEALTH), setup = axum)]
#[bench::post_orders(args = (PLACE_ORDER), setup = axum)]
fn axum_request(mut server: servers::Axum) -> (usize, servers::Axum) {
    (server.round_trip(), server)
}

fn actix(call: servers::Call) -> servers::Actix {
    let mut server = servers::Actix::new(call);
    server.round_trip();
    server
}

#[library_benchmark(teardown = discard)]
#[bench::get_health(args = (HEALTH), setup = actix)]
#[bench::post_orders(args = (PLACE_ORDER), setup = actix)]
fn actix_request(mut server: servers::Actix) -> (usize, servers::Actix) {
    (server.round_trip(), server)
}

library_benchmark_group!(
    name = requests;
    benchmarks = hyper_request, axum_request, actix_request
);

fn spare_headers() -> SpareHeaders {
    SpareHeaders::default()
}

#[library_benchmark(teardown = discard)]
#[bench::order_bodies(setup = loadgen_parts::order_template)]
fn render_100_orders(template: Template) -> (usize, Template) {
    let mut buffer = Vec::with_capacity(512);
    (
        loadgen_parts::render_orders(&template, &mut buffer),
        template,
    )
}

#[library_benchmark(teardown = discard)]
#[bench::get_user(setup = spare_headers)]
fn parse_response_head(mut spare: SpareHeaders) -> (usize, SpareHeaders) {
    (
        loadgen_parts::parse_response(loadgen_parts::RESPONSE, &mut spare),
        spare,
    )
}

fn histograms() -> (Vec<u64>, StepStats, StepStats) {
    (
        loadgen_parts::latencies(),
        StepStats::default(),
        StepStats::default(),
    )
}

#[library_benchmark(teardown = discard)]
#[bench::thousand(setup = histograms)]
fn record_and_merge(
    (latencies, mut step, mut total): (Vec<u64>, StepStats, StepStats),
) -> (u64, StepStats, StepStats) {
    let requests = loadgen_parts::record_and_merge(&latencies, &mut step, &mut total);
    (requests, step, total)
}

library_benchmark_group!(
    name = load_generator;
    benchmarks = render_100_orders, parse_response_head, record_and_merge
);

main!(library_benchmark_groups = domain, requests, load_generator);
