#!/usr/bin/env bash
# The instruction-count gate: counts the instructions of every micro-benchmark
# (benches/benches/instructions.rs, under valgrind's callgrind via gungraun) on
# a base revision and on the working tree, and fails when any benchmark's count
# grows by more than the limit. Counts are exact run after run even on a busy
# machine, so a small limit holds where wall-clock times would cry wolf.
#
#   bash scripts/instruction-gate.sh [BASE]     BASE: a git revision (default HEAD~1)
#   STACKBENCH_IR_LIMIT=1.5%                    the largest growth that passes
#
# Exit: 0 pass (or nothing to compare: said why), 99 a regression, 1 an error.
# Installs valgrind and gungraun-runner when missing (scripts/bench-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${1:-HEAD~1}
limit=${STACKBENCH_IR_LIMIT:-1.5%}
say() { printf 'instruction-gate: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

source scripts/bench-tools.sh
bench_tools

base_commit=$(git rev-parse --verify --quiet "$base^{commit}") \
    || { say "no base revision $base (a first commit, or a shallow clone): nothing to compare, the gate passes"; exit 0; }
if ! git cat-file -e "$base_commit:benches/benches/instructions.rs" 2>/dev/null; then
    say "the base $base ($(git rev-parse --short "$base_commit")) has no instruction benchmarks: nothing to compare, the gate passes"
    exit 0
fi

bench() { cargo bench --quiet --locked --profile gate -p stackbench-benches --bench instructions -- "$@"; }
# STACKBENCH_GATE_HEAD_FEATURES: cargo features for the working tree's build
# only (the gate's own proof uses it to inject a change).
bench_head() {
    cargo bench --quiet --locked --profile gate -p stackbench-benches --bench instructions \
        --features "${STACKBENCH_GATE_HEAD_FEATURES:-}" -- "$@"
}

# The base builds in a worktree of its own but the same target directory:
# dependencies are compiled once, and each revision's crates keep their own
# artifacts (cargo tells them apart by path). gungraun keeps its baselines
# under target/gungraun, where the working tree's run finds them.
worktree=$root/target/gate-base
git worktree remove --force "$worktree" 2>/dev/null || rm -rf "$worktree"
git worktree prune
git worktree add --quiet --detach "$worktree" "$base_commit"
trap 'git worktree remove --force "$worktree" 2>/dev/null || true' EXIT
# Only this gate's own baseline is replaced; baselines you saved stay.
find "$root/target/gungraun" -name '*@gate_base*' -delete 2>/dev/null || true
say "counting the base, $base ($(git rev-parse --short "$base_commit"))"
(cd "$worktree" && CARGO_TARGET_DIR=$root/target bench --save-baseline=gate_base) >/dev/null \
    || die "the base's benchmarks failed"
saved=$(find "$root/target/gungraun" -name '*.base@gate_base' -name 'callgrind.*' | wc -l)
[ "$saved" -gt 0 ] || die "the base run saved no baseline (target/gungraun): nothing would be compared"

say "counting the working tree against it (limit: +$limit instructions)"
set +e
bench_head --baseline=gate_base --callgrind-limits="ir=$limit"
status=$?
set -e
case $status in
    0) say "pass: no benchmark's instruction count grew by more than $limit"; exit 0 ;;
    3) say "regression: a benchmark's instruction count grew by more than $limit (see above)"; exit 99 ;;
    *) die "the benchmarks failed (exit $status)" ;;
esac
