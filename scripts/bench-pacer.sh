#!/usr/bin/env bash
# What does pacing cost? loadgen's own CPU per request in the open model at a
# fixed rate, against the closed model at the same throughput, at several
# loads. Each round runs the closed model first (C connections, as fast as
# the server answers), then the open model at the rate the closed run
# achieved; both on one thread pinned to TOOL_CPU, against GET /health of the
# hyper server (one worker, pinned to SERVER_CPU). One connection is the
# hardest case: every request is a wake-up of its own in the open model (the
# timer, then the response) against one in the closed model. Writes
# results/loadgen-pacer-cpu.json. A benchmark, not a test: the ratio within
# one run is what counts.
#
#   ROUNDS=5 DURATION=8 CONNECTIONS="1 4 16" bash scripts/bench-pacer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-1 4 16}
PORT=${PORT:-3901}
SERVER_CPU=${SERVER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}

bash scripts/setup.sh
. scripts/bench-server.sh

# The first number after the first occurrence of "key": in a run record.
field() { grep -m1 "\"$2\":" "$1" | tr -dc '0-9.'; }

mkdir -p results/bench
levels=()
for c in $CONNECTIONS; do
    closed_cpu=(); open_cpu=(); rates=(); ratios=()
    for round in $(seq "$ROUNDS"); do
        closed=results/bench/pacer-c$c-closed-round$round.json
        taskset -c "$TOOL_CPU" "$loadgen" run --scenario health --target "http://127.0.0.1:$PORT" \
            --connections "$c" --threads 1 --duration "${DURATION}s" --warmup 1s --out "$closed" >/dev/null 2>&1
        rate=$(field "$closed" rps)
        open=results/bench/pacer-c$c-open-round$round.json
        taskset -c "$TOOL_CPU" "$loadgen" run --scenario health --target "http://127.0.0.1:$PORT" \
            --rate "$rate" --max-inflight 64 --threads 1 --duration "${DURATION}s" --warmup 1s --out "$open" >/dev/null 2>&1
        closed_cpu+=("$(field "$closed" cpu_us_per_request)")
        open_cpu+=("$(field "$open" cpu_us_per_request)")
        rates+=("$rate")
        ratios+=("$(awk -v a="${open_cpu[-1]}" -v b="${closed_cpu[-1]}" 'BEGIN {printf "%.3f", a/b}')")
        echo "$c connection(s), round $round: closed ${closed_cpu[-1]} µs/request at $rate req/s, open ${open_cpu[-1]} µs/request (open/closed ${ratios[-1]})" >&2
    done
    ratio_median=$(median "${ratios[@]}")
    echo "$c connection(s): open/closed CPU per request, median $ratio_median (rounds: ${ratios[*]})"
    levels+=("{\"closed_connections\": $c, \"rates\": $(json_list "${rates[@]}"), \"closed_cpu_us_per_request\": $(json_list "${closed_cpu[@]}"), \"open_cpu_us_per_request\": $(json_list "${open_cpu[@]}"), \"open_to_closed_per_round\": $(json_list "${ratios[@]}"), \"open_to_closed_median\": $ratio_median}")
done

cat > results/loadgen-pacer-cpu.json <<JSON
{
  "benchmark": "loadgen CPU per request: open model at a fixed rate vs closed model at the same throughput, GET /health on stackbench-hyper (--workers 1)",
  "command": "ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=\"$CONNECTIONS\" bash scripts/bench-pacer.sh",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "git_commit": "$(git rev-parse HEAD 2>/dev/null || echo unknown)",
  "machine": $(machine_json),
  "pinning": {"server_cpu": $SERVER_CPU, "tool_cpu": $TOOL_CPU},
  "open_max_inflight": 64,
  "seconds_per_run": $DURATION,
  "target": "open/closed at most 1.5",
  "levels": [
    $(IFS=,; echo "${levels[*]}")
  ]
}
JSON
echo "saved results/loadgen-pacer-cpu.json"
