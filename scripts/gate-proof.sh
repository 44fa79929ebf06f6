#!/usr/bin/env bash
# Proof of the regression gates' quality on this machine, recorded in
# results/gate-proof.json with the machine and the commands:
#   1. base = head (two builds of the same commit): the end-to-end gate, RUNS
#      times (default 10), must never report a regression;
#   2. head with an injected slowdown (cargo feature shop/proof-slowdown,
#      about 15% more server CPU per request): RUNS times, counted regressions
#      (the bar: at least 9 of 10);
#   3. the instruction gate: an unchanged build passes; a build with about 3%
#      more instructions in one benchmark (stackbench-benches/proof-instructions)
#      is a regression.
# Builds once (the `gate` profile), then runs `loadgen gate` on the binaries.
# RESUME=1 keeps the end-to-end runs already finished in target/gate-proof
# (from the same commit) and runs only the missing ones.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
runs=${RUNS:-10}
server=${STACKBENCH_GATE_SERVER:-axum}
out=target/gate-proof
mkdir -p "$out"
bash scripts/setup.sh

echo "== building $server twice: as committed, and with the injected slowdown"
[ "${RESUME:-0}" = 1 ] && [ "$(cat "$out/commit" 2>/dev/null)" != "$(git rev-parse HEAD)" ] \
    && { echo "RESUME=1: the kept runs are of another commit; starting over" >&2; rm -f "$out"/same-* "$out"/slower-* "$out"/instructions-*; }
git rev-parse HEAD > "$out/commit"
cargo build --quiet --locked --profile gate --bin "stackbench-$server" --bin loadgen
cp "target/gate/stackbench-$server" "$out/base"
cp "target/gate/stackbench-$server" "$out/same"
cargo build --quiet --locked --profile gate --bin "stackbench-$server" --features shop/proof-slowdown
cp "target/gate/stackbench-$server" "$out/slower"
cargo build --quiet --locked --profile gate --bin "stackbench-$server"   # leave the plain build in place
loadgen=target/gate/loadgen

gate_runs() { # NAME HEAD_BINARY
    local name=$1 head=$2 i
    for i in $(seq 1 "$runs"); do
        if [ "${RESUME:-0}" = 1 ] && [ -s "$out/$name-$i.json" ] && [ -s "$out/$name-$i.exit" ]; then
            echo "   $name run $i: kept from before"
            continue
        fi
        set +e
        "$loadgen" gate --base "$out/base" --head "$head" --seed "$i" --out "$out/$name-$i.json" \
            > "$out/$name-$i.log" 2>&1
        echo "$?" > "$out/$name-$i.exit"
        set -e
        echo "   $name run $i: exit $(cat "$out/$name-$i.exit"), $(grep '^gate: [a-zA-Z]*' -o "$out/$name-$i.log" | tail -1)"
    done
}
echo "== end-to-end gate: base against an identical build, $runs runs"
gate_runs same "$out/same"
echo "== end-to-end gate: base against the injected slowdown, $runs runs"
gate_runs slower "$out/slower"

echo "== instruction gate: an unchanged build, then one with ~3% more instructions in one benchmark"
instruction_gate() { # NAME [FEATURES]
    if [ "${RESUME:-0}" = 1 ] && [ -s "$out/instructions-$1.exit" ]; then
        echo "   $1: kept from before"
        return
    fi
    set +e
    STACKBENCH_GATE_HEAD_FEATURES=${2:-} bash scripts/instruction-gate.sh HEAD > "$out/instructions-$1.log" 2>&1
    echo "$?" > "$out/instructions-$1.exit"
    set -e
    echo "   $1: exit $(cat "$out/instructions-$1.exit")"
}
instruction_gate same
instruction_gate changed stackbench-benches/proof-instructions

python3 - "$out" "$runs" "$(machine_json)" "$(git rev-parse --short HEAD)" > results/gate-proof.json <<'PY'
import json, re, sys
out, runs, machine, commit = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
def e2e(name):
    rows = []
    for i in range(1, runs + 1):
        record = json.load(open(f"{out}/{name}-{i}.json"))
        rows.append({
            "run": i,
            "exit": int(open(f"{out}/{name}-{i}.exit").read()),
            "verdict": record["verdict"],
            "metrics": {m["metric"]: {"ratio": round(m["ratio"], 4), "low": round(m["low"], 4),
                                      "high": round(m["high"], 4), "detectable": round(m["detectable"], 4),
                                      "verdict": m["verdict"]} for m in record["metrics"]},
        })
    count = lambda v: sum(r["verdict"] == v for r in rows)
    return {"runs": rows, "regression": count("regression"), "inconclusive": count("inconclusive"), "pass": count("pass")}
def instructions(name):
    log = open(f"{out}/instructions-{name}.log").read()
    changes = re.findall(r"^(instructions::\S+ \S+?)(?::.*)?\n(?:  Baselines:.*\n)?  Instructions:\s+(\d+)\|(\d+)\s+\(([^)]*)\)", log, re.M)
    return {"exit": int(open(f"{out}/instructions-{name}.exit").read()),
            "benchmarks": [{"benchmark": b, "new": int(n), "old": int(o), "change": c} for b, n, o, c in changes]}
json.dump({
    "what": "proof of the regression gates: A/A never a regression; an injected ~15% CPU slowdown caught; the instruction gate flags ~3%",
    "command": "bash scripts/gate-proof.sh",
    "commit": commit,
    "machine": machine,
    "end_to_end": {"identical_builds": e2e("same"), "injected_slowdown": e2e("slower")},
    "instruction_gate": {"unchanged": instructions("same"), "changed": instructions("changed")},
}, sys.stdout, indent=2)
PY
echo "saved results/gate-proof.json"
