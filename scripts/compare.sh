#!/usr/bin/env bash
# The main job: set up, build the release binaries, and compare every stack
# (hyper, axum, actix, go-nethttp, bun, bun-hono; one whose toolchain could
# not be installed is skipped with a line) side by side on the `orders`
# scenario: each stack's capacity at p99 < 20ms (the highest rate at which
# the SLO holds, searched in every round) beside PostgreSQL alone's, in
# interleaved rounds, the database checked after every step. Leaves
# results/compare-orders-<time>.json and .html.
# Extra arguments go to `loadgen compare` (see its --help); --capacity and
# --warmup replace the defaults below, e.g.
#   bash scripts/compare.sh --capacity "p99.9 < 50ms" --rounds 8
#   bash scripts/compare.sh --drivers tokio-postgres,sqlx
# `target/release/loadgen compare --scenario orders` runs the closed
# throughput and equal-rate latency phases instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== building release binaries (the first build takes a few minutes)"
cargo build --release --locked --workspace --bins
target/release/loadgen stacks build

target/release/loadgen db start
# The rounds that can name a winner (6 for six stacks), steps of 3 s after
# 0.5 s, each round's search to 10% (docs/compare.md says what that takes
# and what precision it gives).
given() { local arg; for arg in "${@:2}"; do [[ $arg == "$1" || $arg == "$1="* ]] && return 0; done; return 1; }
defaults=()
given --capacity "$@" || defaults+=(--capacity "p99 < 20ms")
given --warmup "$@" || defaults+=(--warmup 500ms)
exec target/release/loadgen compare --scenario orders "${defaults[@]}" "$@"
