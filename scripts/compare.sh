#!/usr/bin/env bash
# The main job: set up, build the release binaries, and compare every stack
# (hyper, axum, actix, go-nethttp, bun, bun-hono; one whose toolchain could
# not be installed is skipped with a line) side by side on the `orders` scenario (interleaved rounds, a
# throughput phase and an equal-rate latency phase, the database checked
# after every run). Leaves results/compare-orders-<time>.json and .html.
# Extra arguments go to `loadgen compare` (see its --help), e.g.
#   bash scripts/compare.sh --drivers tokio-postgres,sqlx --rounds 5
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== building release binaries (the first build takes a few minutes)"
cargo build --release --locked --workspace --bins
target/release/loadgen stacks build

target/release/loadgen db start
exec target/release/loadgen compare --scenario orders "$@"
