#!/usr/bin/env bash
# Is loadgen at least as fast as wrk? Both drive GET /health of the hyper
# server with the same connections on one thread, each pinned to its own
# core (server on CPU 0, the tool on CPU 1), in interleaved A/B rounds.
# Writes results/loadgen-vs-wrk.json. A benchmark, not a test: numbers vary
# by machine; the ratio within one run is what counts.
#
#   ROUNDS=5 DURATION=10 CONNECTIONS=64 bash scripts/bench-loadgen.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-3900}
SERVER_CPU=${SERVER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}

bash scripts/setup.sh
if ! command -v wrk >/dev/null; then
    echo "installing wrk from the OS packages" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
    else sudo apt-get install -y -qq wrk >/dev/null; fi
fi
. scripts/bench-server.sh

mkdir -p results/bench
loadgen_rps=(); wrk_rps=()
for round in $(seq "$ROUNDS"); do
    out=results/bench/loadgen-health-round$round.json
    taskset -c "$TOOL_CPU" "$loadgen" run --scenario health --target "http://127.0.0.1:$PORT" \
        --connections "$CONNECTIONS" --threads 1 --duration "${DURATION}s" --warmup 0s --out "$out" >/dev/null 2>&1
    rps=$(sed -n '/"total": {/,/"rps"/p' "$out" | grep '"rps"' | head -n1 | tr -dc '0-9.')
    loadgen_rps+=("$rps")
    wrk_out=$(taskset -c "$TOOL_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PORT/health")
    wrk_rps+=("$(printf '%s\n' "$wrk_out" | awk '/Requests\/sec:/ {print $2}')")
    echo "round $round: loadgen ${loadgen_rps[-1]} req/s, wrk ${wrk_rps[-1]} req/s" >&2
done

loadgen_median=$(median "${loadgen_rps[@]}")
wrk_median=$(median "${wrk_rps[@]}")
ratio=$(awk -v a="$loadgen_median" -v b="$wrk_median" 'BEGIN {printf "%.3f", a/b}')
cat > results/loadgen-vs-wrk.json <<JSON
{
  "benchmark": "loadgen vs wrk, GET /health on stackbench-hyper (--workers 1)",
  "command": "ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS bash scripts/bench-loadgen.sh",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "git_commit": "$(git rev-parse HEAD 2>/dev/null || echo unknown)",
  "machine": $(machine_json),
  "pinning": {"server_cpu": $SERVER_CPU, "tool_cpu": $TOOL_CPU},
  "connections": $CONNECTIONS,
  "threads_per_tool": 1,
  "seconds_per_round": $DURATION,
  "wrk_version": "$(wrk --version 2>&1 | head -n1 | sed 's/"//g')",
  "loadgen_rps": $(json_list "${loadgen_rps[@]}"),
  "wrk_rps": $(json_list "${wrk_rps[@]}"),
  "loadgen_median_rps": $loadgen_median,
  "wrk_median_rps": $wrk_median,
  "loadgen_to_wrk": $ratio
}
JSON
echo "median: loadgen $loadgen_median req/s, wrk $wrk_median req/s (loadgen/wrk = $ratio)"
echo "saved results/loadgen-vs-wrk.json"
