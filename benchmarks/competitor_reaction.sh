#!/usr/bin/env bash
# What the competitor that answers our prices costs each policy: `standard` as it is, and a copy whose
# reacting competitors are plain random walks, for static and learned prices over SEEDS seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
PS=${PRICESTREAM:-.venv/bin/pricestream}
SEEDS=${SEEDS:-3}
mkdir -p benchmarks/results
.venv/bin/python benchmarks/scenario_variant.py standard without-reaction benchmarks/results/standard-without-reaction.scenario.json
for scenario in standard benchmarks/results/standard-without-reaction.scenario.json; do
  for policy in static learned; do
    restock=fixed-reorder; [ "$policy" = learned ] && restock=learned
    out="benchmarks/results/reaction-$(basename "$scenario" .scenario.json)--$policy.json"
    $PS simulate --scenario "$scenario" --policy "$policy" --restock-policy "$restock" --seed 1 --seeds "$SEEDS" \
      --quiet --report-json "$out" >/dev/null
    .venv/bin/python -c "
import json; s = json.load(open('$out'))['summary']
print(f\"{s['scenario']:<28} {s['policy']:<8} profit {s['profit']['mean']:9.0f}  profit_ratio {s['profit_ratio']['mean']:.3f}  oracle {s['oracle_profit']['mean']:9.0f}\")"
  done
done
