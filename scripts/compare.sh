#!/usr/bin/env bash
# The main job: set up, build the release binaries, and compare the three
# servers side by side on the `orders` scenario. Extra arguments go to
# `loadgen compare` (see `target/release/loadgen compare --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== building release binaries (first build takes a few minutes)"
cargo build --release --locked --workspace --bins

loadgen=target/release/loadgen
"$loadgen" db start
if "$loadgen" compare --help >/dev/null 2>&1; then
    exec "$loadgen" compare --scenario orders "$@"
fi

# Until `loadgen compare` lands: start the three servers on their ports,
# prove each serves the contract, and stop them.
url=$("$loadgen" db url)
"$loadgen" db reset --users 1000 --products 100 --stock 1000
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for entry in hyper:3000 axum:3001 actix:3002; do
    server=${entry%%:*}; port=${entry##*:}
    DATABASE_URL=$url RUST_LOG=warn "target/release/stackbench-$server" --port "$port" &
    pids+=($!)
done
for entry in hyper:3000 axum:3001 actix:3002; do
    server=${entry%%:*}; port=${entry##*:}
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health/db" >/dev/null && break; sleep 0.1; done
    echo "$server on :$port -> $(curl -fs "http://127.0.0.1:$port/products/1")"
done
echo "loadgen compare is not built yet: the servers above serve the contract on 3000-3002."
