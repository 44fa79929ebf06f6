# Sourced by the benchmark scripts: builds the release binaries and starts
# the hyper server with one worker, pinned to SERVER_CPU, on PORT, against
# the managed database; waits until it answers and stops it on exit.
# Sets `loadgen` (the release binary's path).
cargo build --release --locked --workspace --bins

loadgen=target/release/loadgen
url=$("$loadgen" db url)
DATABASE_URL=$url RUST_LOG=warn taskset -c "$SERVER_CPU" target/release/stackbench-hyper --port "$PORT" --workers 1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    "$loadgen" run --scenario health --target "http://127.0.0.1:$PORT" --connections 1 --duration 100ms --warmup 0s --out /dev/null >/dev/null 2>&1 && break
    sleep 0.1
done
