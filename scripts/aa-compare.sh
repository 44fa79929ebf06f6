#!/usr/bin/env bash
# The noise floor of `loadgen compare`: the same stack listed COPIES times
# (an A/A comparison) must come out "within noise" on every figure. Runs
# COUNT short comparisons of STACK against itself with ROUNDS rounds (enough
# that a winner could be named, so a false one would show: with four copies
# compare corrects for 6 figures x 3 comparisons, and 6 rounds is the
# fewest that can name a winner then) and counts the comparisons that named
# a winner on any figure. Writes results/aa-compare.json with every
# comparison's verdict lines (the comparisons themselves, a few hundred KiB
# each, go to a temporary directory).
#
#   COUNT=20 COPIES=4 ROUNDS=6 STACK=axum SCENARIO=smoke bash scripts/aa-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

COUNT=${COUNT:-20}
COPIES=${COPIES:-4}
ROUNDS=${ROUNDS:-6}
STACK=${STACK:-axum}
SCENARIO=${SCENARIO:-smoke}
DURATION=${DURATION:-1s}
WARMUP=${WARMUP:-300ms}

bash scripts/setup.sh
cargo build --release --locked --workspace --bins
loadgen=target/release/loadgen
"$loadgen" db start >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
servers=$(printf "$STACK,%.0s" $(seq "$COPIES")); servers=${servers%,}
command=("$loadgen" compare --scenario "$SCENARIO" --servers "$servers" --rounds "$ROUNDS"
         --duration "$DURATION" --warmup "$WARMUP" --threads 1)
flagged=0; verdicts=(); figures_flagged=()
for i in $(seq "$COUNT"); do
    out=$work/aa-$i.json
    "${command[@]}" --out "$out" >/dev/null 2>&1
    verdicts+=("[$(grep -o '"text": "[^"]*"' "$out" | cut -d'"' -f4 | sed 's/.*/"&"/' | paste -sd, -)]")
    # Figures whose verdict named a winner: a false positive in an A/A run.
    names=$(awk -F'"' '/"figure":/ {figure = $4} /"winner": true/ {print figure}' "$out" | paste -sd, -)
    if [ -n "$names" ]; then
        flagged=$((flagged + 1))
        figures_flagged+=("\"$i: $names\"")
    fi
    echo "comparison $i of $COUNT: ${names:-within noise on every figure}" >&2
done

cat > results/aa-compare.json <<JSON
{
  "experiment": "A/A: $STACK listed $COPIES times, $COUNT comparisons of $ROUNDS rounds on the $SCENARIO scenario",
  "command": "COUNT=$COUNT COPIES=$COPIES ROUNDS=$ROUNDS STACK=$STACK SCENARIO=$SCENARIO DURATION=$DURATION WARMUP=$WARMUP bash scripts/aa-compare.sh",
  "each_comparison": "${command[*]}",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "git_commit": "$(git rev-parse HEAD 2>/dev/null || echo unknown)",
  "machine": $(machine_json),
  "comparisons": $COUNT,
  "within_noise_on_every_figure": $((COUNT - flagged)),
  "named_a_winner": $flagged,
  "false_winners": $(json_list "${figures_flagged[@]+"${figures_flagged[@]}"}"),
  "required": "within noise on every figure in at least 19 of 20",
  "verdicts": [
    $(IFS=,; echo "${verdicts[*]}")
  ]
}
JSON
echo "$((COUNT - flagged)) of $COUNT A/A comparisons within noise on every figure"
echo "saved results/aa-compare.json"
