#!/usr/bin/env bash
# Installs the Python tools the test command uses, pinned, from PyPI into
# one virtual environment, target/python-tools: schemathesis (the spec fuzz
# of the fault suite, servers/conformance/tests/faults.rs) and
# kubernetes-validate (the offline check of `loadgen k8s render`'s
# manifests, loadgen/tests/k8s.rs); and python3-venv from the OS packages
# when Python cannot make a virtual environment. Safe to run again: it
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=("schemathesis==4.32.5" "kubernetes-validate==1.37.0")
venv=target/python-tools
say() { printf 'python-tools: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# What the environment holds, one name==version a line, as pip lists it.
installed() { "$venv/bin/pip" freeze --disable-pip-version-check 2>/dev/null || true; }
missing=()
for tool in "${tools[@]}"; do
    # pip normalizes names to lower case, with - for _.
    installed | grep -qixF -- "$tool" || missing+=("$tool")
done
if [ ${#missing[@]} -eq 0 ]; then
    say "${tools[*]}: found"
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

if [ ! -x "$venv/bin/pip" ]; then
    python3 -m venv "$venv" || die "python3 -m venv $venv failed"
fi
say "installing ${missing[*]} from PyPI into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}" \
    || die "pip could not install ${missing[*]} (PyPI must be reachable)"
say "${missing[*]} installed"
