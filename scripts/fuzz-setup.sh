#!/usr/bin/env bash
# Installs schemathesis (PyPI, pinned) into target/fuzz-venv for the spec fuzz
# of the fault suite (servers/conformance/tests/faults.rs, `spec_fuzz`), and
# python3-venv from the OS packages when Python cannot make a virtual
# environment. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv=target/fuzz-venv
say() { printf 'fuzz-setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

if [ -x "$venv/bin/st" ] && [ "$("$venv/bin/st" --version 2>/dev/null)" = "st, version $version" ]; then
    say "schemathesis $version: found"
    exit 0
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $*"
    fi
}

if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    command -v apt-get >/dev/null || die "python3 with the venv module is needed (python3 -m venv): install it"
    say "installing python3 and python3-venv from the OS packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi

say "installing schemathesis $version from PyPI into $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" \
    || die "pip could not install schemathesis $version (PyPI must be reachable)"
say "schemathesis $version installed"
