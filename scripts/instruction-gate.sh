#!/usr/bin/env bash
# The instruction-count gate: counts the instructions of every micro-benchmark
# (benches/benches/instructions.rs, under valgrind's callgrind via gungraun) on
# a base revision and on the working tree, and fails when any benchmark's count
# grows by more than the limit. Counts are exact run after run even on a busy
# machine, so a small limit holds where wall-clock times would cry wolf. When
# nothing the benchmarks are built from differs from the base, it is skipped
# with one line.
#
#   bash scripts/instruction-gate.sh [BASE]     BASE: a git revision (default HEAD~1)
#   bash scripts/instruction-gate.sh --prepare [BASE]
#                                               only install the tools and build
#                                               both sides (both gates' builds):
#                                               CI does it beside the tests
#   STACKBENCH_IR_LIMIT=1.5%                    the largest growth that passes
#
# Exit: 0 pass (or nothing to compare: said why), 99 a regression, 1 an error.
# Installs valgrind and gungraun-runner when missing (scripts/bench-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${STACKBENCH_IR_LIMIT:-1.5%}
prepare=false
if [ "${1:-}" = --prepare ]; then prepare=true; shift; fi
say() { printf 'instruction-gate: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
source scripts/gate-lib.sh
source scripts/bench-tools.sh

gate_resolve_base "${1:-HEAD~1}"
if ! git cat-file -e "$base_commit:benches/benches/instructions.rs" 2>/dev/null; then
    say "the base $base ($(git rev-parse --short "$base_commit")) has no instruction benchmarks: nothing to compare, the gate passes"
    exit 0
fi
# What the benchmarks are built from: every workspace crate they reach, the
# workspace manifest, the lock and cargo's config.
gate_skip_if_unchanged Cargo.toml Cargo.lock .cargo benches schema loadgen servers/shop servers/runtime servers/stacks \
    servers/hyper servers/axum servers/actix
bench_tools
if $prepare; then
    say "building the base, $base ($(git rev-parse --short "$base_commit")), and the working tree"
    gate_side base || die "the base does not build"
    gate_side head || die "the working tree does not build"
    say "both sides built"
    exit 0
fi

# Both sides write their counts under one gungraun home, so the working
# tree's run finds the base's baseline; only this gate's baseline is replaced.
home=$gate_target/gungraun
bench() { gate_cargo bench --bench instructions -- --home="$home" "$@"; }
find "$home" -name '*@gate_base*' -delete 2>/dev/null || true

say "counting the base, $base ($(git rev-parse --short "$base_commit")), built from its sources"
gate_side base || die "the base does not build"
gate_in_src "$gate_dir/base" bench --save-baseline=gate_base >/dev/null || die "the base's benchmarks failed"
saved=$(find "$home" -name '*.base@gate_base' -name 'callgrind.*' | wc -l)
[ "$saved" -gt 0 ] || die "the base run saved no baseline ($home): nothing would be compared"

say "counting the working tree against it (limit: +$limit instructions)"
gate_side head || die "the working tree does not build"
status=0
gate_in_src "$gate_dir/head" bench --baseline=gate_base --callgrind-limits="ir=$limit" || status=$?
case $status in
    0) say "pass: no benchmark's instruction count grew by more than $limit" ;;
    3) say "regression: a benchmark's instruction count grew by more than $limit (see above)"; exit 99 ;;
    *) die "the benchmarks failed (exit $status)" ;;
esac
