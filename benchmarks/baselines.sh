#!/usr/bin/env bash
# Every pricing policy on every built-in scenario over 10 seeds: the baselines are the bar `learned`
# must clear. Writes benchmarks/results/<scenario>--<policy>.json and prints a summary table.
# (`learned` runs with learned restocking too; the baselines with the catalogue's fixed rule.)
set -euo pipefail
cd "$(dirname "$0")/.."
PS=${PRICESTREAM:-.venv/bin/pricestream}
SEEDS=${SEEDS:-10}
POLICIES=${POLICIES:-static cost-plus competitor-match learned}
mkdir -p benchmarks/results
# scenario[:periods]: ferreira2018 at the paper's two horizons
NAMES=""         # the table's rows: only these runs' files (other benchmarks write to results/ too)
for run in standard slow-movers shock ferreira2018:500 ferreira2018:2000; do
  scenario=${run%%:*}
  name=$scenario
  for policy in $POLICIES; do
    args=(--scenario "$scenario" --policy "$policy" --seeds "$SEEDS" --quiet)
    if [ "$run" != "$scenario" ]; then args+=(--periods "${run#*:}"); name="$scenario-T${run#*:}"; fi
    NAMES="$NAMES $name"
    if [ "$policy" = learned ]; then args+=(--restock-policy learned); else args+=(--restock-policy fixed-reorder); fi
    echo "$name $policy" >&2
    $PS simulate "${args[@]}" --report-json "benchmarks/results/$name--$policy.json" >/dev/null
  done
done
NAMES="$NAMES" .venv/bin/python - <<'PY'
import json, os, pathlib
names = set(os.environ["NAMES"].split())
rows = []
for path in sorted(pathlib.Path("benchmarks/results").glob("*--*.json")):
    name = path.stem.split("--")[0]
    if name not in names:
        continue                       # another benchmark's (competitor_reaction.sh, segments.sh)
    s = json.loads(path.read_text())["summary"]
    pr, fr, p = s["profit_ratio"], s["fill_rate"], s["profit"]
    rows.append(f"| {name} | {s['policy']} | {pr['mean']:.3f} ± {pr['std']:.3f} | {p['mean']:.0f} | {fr['mean']:.3f} |")
print("| scenario | policy | profit_ratio (mean ± std, 10 seeds) | profit (mean) | fill_rate (mean) |")
print("| --- | --- | --- | --- | --- |")
print("\n".join(rows))
PY
