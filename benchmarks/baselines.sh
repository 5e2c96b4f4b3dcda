#!/usr/bin/env bash
# The bar the learned policies must beat: every baseline on every built-in scenario, over 10 seeds.
# Writes benchmarks/results/baselines-<scenario>-<policy>.json and prints a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
PS=${PRICESTREAM:-.venv/bin/pricestream}
SEEDS=${SEEDS:-10}
mkdir -p benchmarks/results
for scenario in standard slow-movers shock ferreira2018; do
  for policy in static cost-plus competitor-match; do
    echo "$scenario $policy"
    periods=""
    [ "$scenario" = ferreira2018 ] && periods="--periods ${FERREIRA_T:-500}"
    $PS simulate --scenario "$scenario" --policy "$policy" --seeds "$SEEDS" $periods --quiet \
      --report-json "benchmarks/results/baselines-$scenario-$policy.json" >/dev/null
  done
done
.venv/bin/python - <<'PY'
import json, pathlib
rows = []
for path in sorted(pathlib.Path("benchmarks/results").glob("baselines-*.json")):
    s = json.loads(path.read_text())["summary"]
    pr, fr, p = s["profit_ratio"], s["fill_rate"], s["profit"]
    rows.append(f"| {s['scenario']} | {s['policy']} | {pr['mean']:.3f} ± {pr['std']:.3f} | {p['mean']:.0f} | {fr['mean']:.3f} |")
print("| scenario | policy | profit_ratio (mean ± std, 10 seeds) | profit (mean) | fill_rate (mean) |")
print("| --- | --- | --- | --- | --- |")
print("\n".join(rows))
PY
