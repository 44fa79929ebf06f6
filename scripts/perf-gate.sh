#!/usr/bin/env bash
# The end-to-end regression gate: builds one server at a base revision
# (default HEAD~1) and from the working tree, both with the `gate` profile,
# then runs `loadgen gate` on the two: alternated short windows of the
# `smoke` scenario against the managed PostgreSQL, and a verdict per metric
# (throughput, p99 at an equal rate, CPU per request, errors) that is pass,
# regression or inconclusive. When nothing the server is built from differs
# from the base, it is skipped with one line: the two builds would be one.
#
#   bash scripts/perf-gate.sh [BASE] [loadgen gate flags...]
#   STACKBENCH_GATE_SERVER=axum     the server to gate (hyper, axum or actix)
#
# Exit: loadgen gate's (0 pass or inconclusive, 99 regression, 98
# inconclusive with --strict), 0 when skipped, or 1 on an error.
set -euo pipefail
cd "$(dirname "$0")/.."
base=HEAD~1
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then base=$1; shift; fi
server=${STACKBENCH_GATE_SERVER:-axum}
say() { printf 'perf-gate: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
source scripts/gate-lib.sh

bash scripts/setup.sh
gate_resolve_base "$base"
# What the server binary is built from (its crate, shop and shop's own
# workspace dependency, the workspace manifest, the lock and cargo's config).
gate_skip_if_unchanged Cargo.toml Cargo.lock .cargo schema servers/shop "servers/$server"

builds=$gate_target/gate-builds
rm -rf "$builds" && mkdir -p "$builds/base" "$builds/head"
# The server builds alone (`-p`) on both sides: a build that also selected
# another package could unify different features into the server's
# dependencies, and the two sides would differ by more than the commit.
build_server() { cargo build --quiet --locked --profile gate -p "stackbench-$server"; }

say "building stackbench-$server and loadgen from the working tree"
build_server
cp "$gate_target/gate/stackbench-$server" "$builds/head/"
cargo build --quiet --locked --profile gate -p loadgen

say "building stackbench-$server at the base, $base ($(git rev-parse --short "$base_commit"))"
gate_checkout_base gate
gate_at_base build_server || die "the base does not build"
cp "$gate_dir/target/gate/stackbench-$server" "$builds/base/"

status=0
"$gate_target/gate/loadgen" gate \
    --base "$builds/base/stackbench-$server" --head "$builds/head/stackbench-$server" "$@" || status=$?
exit $status
