#!/usr/bin/env bash
# The end-to-end regression gate: builds one server from a base revision
# (default HEAD~1, in a worktree of its own) and from the working tree, both
# with the `gate` profile, then runs `loadgen gate` on the two: alternated
# short windows of the `smoke` scenario against the managed PostgreSQL, and a
# verdict per metric (throughput, p99 at an equal rate, CPU per request,
# errors) that is pass, regression or inconclusive.
#
#   bash scripts/perf-gate.sh [BASE] [loadgen gate flags...]
#   STACKBENCH_GATE_SERVER=axum     the server to gate (hyper, axum or actix)
#
# Exit: loadgen gate's (0 pass or inconclusive, 99 regression, 98
# inconclusive with --strict), or 1 on an error.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=HEAD~1
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then base=$1; shift; fi
server=${STACKBENCH_GATE_SERVER:-axum}
say() { printf 'perf-gate: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

bash scripts/setup.sh
base_commit=$(git rev-parse --verify --quiet "$base^{commit}") \
    || { say "no base revision $base (a first commit, or a shallow clone): nothing to compare"; exit 0; }
builds=$root/target/gate-builds
mkdir -p "$builds/base" "$builds/head"

# What the server is built from: when none of it differs from the base, the
# base build would be the head build, so that is not built twice.
inputs=(Cargo.toml Cargo.lock .cargo servers/shop "servers/$server")
same_sources=false
if [ -z "${STACKBENCH_GATE_HEAD_FEATURES:-}" ] && git diff --quiet "$base_commit" -- "${inputs[@]}"; then
    same_sources=true
else
    # The base builds in a worktree of its own but the same target directory:
    # dependencies compile once; cargo keeps each revision's crates apart.
    worktree=$root/target/gate-base
    git worktree remove --force "$worktree" 2>/dev/null || rm -rf "$worktree"
    git worktree prune
    git worktree add --quiet --detach "$worktree" "$base_commit"
    trap 'git worktree remove --force "$worktree" 2>/dev/null || true' EXIT
    say "building stackbench-$server at the base, $base ($(git rev-parse --short "$base_commit"))"
    (cd "$worktree" && CARGO_TARGET_DIR=$root/target cargo build --quiet --locked --profile gate --bin "stackbench-$server") \
        || die "the base does not build"
    cp "$root/target/gate/stackbench-$server" "$builds/base/"
fi
say "building stackbench-$server and loadgen from the working tree"
# STACKBENCH_GATE_HEAD_FEATURES: cargo features for the working tree's build
# only (the gate's own proof uses it to inject a slowdown).
cargo build --quiet --locked --profile gate --bin "stackbench-$server" --bin loadgen \
    --features "${STACKBENCH_GATE_HEAD_FEATURES:-}"
cp "$root/target/gate/stackbench-$server" "$builds/head/"
if $same_sources; then
    say "stackbench-$server is built from the same sources at $base (${inputs[*]} unchanged): the base is the head build, an A/A run"
    cp "$root/target/gate/stackbench-$server" "$builds/base/"
fi

exec "$root/target/gate/loadgen" gate \
    --base "$builds/base/stackbench-$server" --head "$builds/head/stackbench-$server" "$@"
