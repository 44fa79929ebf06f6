#!/usr/bin/env bash
# Installs what stackbench needs that the Rust toolchain does not bring:
# the PostgreSQL server binaries (Debian/Ubuntu packages), Go, Bun and Hono;
# with --tests, Chromium (the HTML report test) and valgrind (the
# instruction-count gate that CI runs after the tests) too. Safe to run again: it
# installs only what is missing.
set -euo pipefail
for_tests=false
[ "${1:-}" = "--tests" ] && for_tests=true
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs) first"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt || die "rustfmt missing: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy || die "clippy missing: rustup component add clippy"

have_postgres() {
    # The same places the schema crate looks (schema/src/cluster.rs).
    [ -n "${DATABASE_URL:-}" ] && return 0
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null && return 0
    if command -v pg_config >/dev/null; then
        local bindir; bindir=$(pg_config --bindir)
        [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] && [ -x "$bindir/postgres" ] && return 0
    fi
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $*"
    fi
}

if have_postgres; then
    say "PostgreSQL server binaries: found"
else
    command -v apt-get >/dev/null || die "PostgreSQL server binaries not found and no apt-get: install PostgreSQL (initdb, pg_ctl, postgres) or set DATABASE_URL"
    say "installing PostgreSQL from the OS packages"
    as_root apt-get update -qq
    # The package's own service is not needed: stackbench runs its own cluster.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
    have_postgres || die "PostgreSQL was installed but its binaries were not found"
    say "PostgreSQL installed"
fi

# The stacks in other languages. A toolchain that cannot be had is said in
# one line and skipped: `loadgen compare` then runs without that stack.
apt_install() {
    command -v apt-get >/dev/null || return 1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
        || { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

# go-nethttp: Go and lib/pq from the OS packages; it builds offline against them.
if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/lib/pq ]; then
    say "Go and lib/pq: found"
else
    say "installing Go and lib/pq from the OS packages (golang-go, golang-github-lib-pq-dev) for go-nethttp"
    apt_install golang-go golang-github-lib-pq-dev && say "Go installed" \
        || say "cannot install Go: the go-nethttp stack will be skipped"
fi

# bun, bun-hono: Bun and Hono from npm, pinned by servers/package-lock.json,
# into servers/node_modules (never globally).
if ! command -v npm >/dev/null; then
    say "installing npm from the OS packages (for Bun and Hono)"
    apt_install npm || say "cannot install npm: the bun and bun-hono stacks will be skipped"
fi
if command -v npm >/dev/null; then
    installed=servers/node_modules/.package-lock.json
    if [ -x servers/node_modules/.bin/bun ] && [ -f "$installed" ] && [ "$installed" -nt servers/package-lock.json ]; then
        say "Bun and Hono: found ($(servers/node_modules/.bin/bun --version))"
    else
        say "installing Bun and Hono from npm into servers/node_modules (npm ci)"
        npm ci --prefix servers --no-audit --no-fund --loglevel=error >/dev/null \
            || say "npm ci failed: the bun and bun-hono stacks will be skipped"
    fi
fi

# The HTML report test renders the report in headless Chromium.
if $for_tests && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    say "installing Chromium from the OS packages (for the HTML report test)"
    apt_install chromium || die "cannot install Chromium: the HTML report test needs it"
fi

# CI's instruction-count gate counts under valgrind; installed here, with
# the other OS packages, since one installer runs at a time.
if $for_tests && ! command -v valgrind >/dev/null; then
    say "installing valgrind from the OS packages (for the instruction-count gate)"
    apt_install valgrind || die "cannot install valgrind: the instruction-count gate needs it"
fi
