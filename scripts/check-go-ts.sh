#!/usr/bin/env bash
# Checks the stacks not written in Rust, which cargo neither builds nor
# tests: the Go stack (servers/go-nethttp: go vet, gofmt, go test) and the
# TypeScript of the Bun stacks (servers/shop-ts, servers/bun, servers/bun-hono:
# tsc --noEmit, bun test). `bun build` strips types without checking them, so
# without tsc a type error would only show, if ever, as a wrong answer in the
# conformance suite. Go, lib/pq, Bun and TypeScript come from
# `bash scripts/setup.sh` (which the test command runs first): a missing one
# fails the check instead of skipping it. One line says what failed.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    printf 'check-go-ts: FAILED: %s\n' "$*" >&2
    exit 1
}
step() { printf 'check-go-ts: %s\n' "$*"; }

command -v go >/dev/null && command -v gofmt >/dev/null \
    || fail "Go is not installed: run \`bash scripts/setup.sh\`"
[ -d /usr/share/gocode/src/github.com/lib/pq ] \
    || fail "lib/pq (golang-github-lib-pq-dev) is not installed: run \`bash scripts/setup.sh\`"
[ -x servers/node_modules/.bin/bun ] && [ -x servers/node_modules/.bin/tsc ] \
    || fail "Bun or TypeScript is not installed in servers/node_modules: run \`bash scripts/setup.sh\`"

# The Go stack builds offline against the OS's lib/pq (see its go.mod).
go_offline=(env GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local)

step "go vet (servers/go-nethttp)"
(cd servers/go-nethttp && "${go_offline[@]}" go vet ./...) || fail "go vet found problems in servers/go-nethttp"

step "gofmt (servers/go-nethttp)"
unformatted=$(gofmt -l servers/go-nethttp) || fail "gofmt could not read servers/go-nethttp"
[ -z "$unformatted" ] || fail "gofmt would change: ${unformatted//$'\n'/ }"

step "go test (servers/go-nethttp)"
(cd servers/go-nethttp && "${go_offline[@]}" go test ./...) || fail "go test failed in servers/go-nethttp"

step "tsc --noEmit (servers/shop-ts, servers/bun, servers/bun-hono)"
servers/node_modules/.bin/tsc --noEmit -p servers || fail "tsc found type errors (servers/tsconfig.json)"

step "bun test (servers/shop-ts)"
(cd servers && node_modules/.bin/bun test --only-failures) || fail "bun test failed in servers/shop-ts"

step "passed: go vet, gofmt, go test, tsc --noEmit, bun test"
