#!/usr/bin/env bash
# `cargo bench` with its tools in place: the criterion benchmarks (times) and
# the gungraun ones (instruction counts, under valgrind). Arguments go to
# cargo bench, e.g. `bash scripts/bench.sh --bench time -- --save-baseline before`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-tools.sh
bench_tools
exec cargo bench --locked -p stackbench-benches "$@"
