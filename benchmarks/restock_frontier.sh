#!/usr/bin/env bash
# Learned restocking against the catalogue's fixed rule, at equal or better fill rate.
# The fixed rule's (s, S) over-serves the catalogue's targets; the learned rule meets them. To compare
# the two at the same fill rate, the learned rule is also run with every SKU's target raised
# (TARGETS), tracing its cost-fill curve; each run keeps the same learned pricing and market seeds.
# Writes benchmarks/results/<scenario>-restock--<run>.json and prints one row per run.
set -euo pipefail
cd "$(dirname "$0")/.."
PS=${PRICESTREAM:-.venv/bin/pricestream}
SEEDS=${SEEDS:-10}
SCENARIO=${SCENARIO:-standard}
TARGETS=${TARGETS:-0.99 0.999}
JOBS=${JOBS:-2}                  # runs side by side (one core each)
OUT=benchmarks/results
mkdir -p "$OUT"
runs=()
run() {   # name scenario restock-policy
  echo "$1" >&2
  $PS simulate --scenario "$2" --policy learned --restock-policy "$3" --seeds "$SEEDS" --quiet \
    --report-json "$OUT/$SCENARIO-restock--$1.json" >/dev/null
}
pids=()
wait_for_slot() { while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 2; done; }
for target in catalogue $TARGETS; do
  if [ "$target" = catalogue ]; then scenario=$SCENARIO; else
    scenario="$OUT/$SCENARIO-service-$target.scenario.json"
    .venv/bin/python benchmarks/scenario_variant.py "$SCENARIO" "service-$target" "$scenario"
  fi
  wait_for_slot; run "learned-$target" "$scenario" learned & pids+=($!); runs+=("learned-$target")
done
wait_for_slot; run fixed-reorder "$SCENARIO" fixed-reorder & pids+=($!); runs+=(fixed-reorder)
for pid in "${pids[@]}"; do wait "$pid"; done
RUNS="${runs[*]}" SCENARIO="$SCENARIO" .venv/bin/python - <<'PY'
import json, os, statistics
print("| run | holding + ordering a run | fill rate | units lost a run | lost margin a run | SKU-runs under target"
      " | on hand vs informed | net profit a run |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for run in os.environ["RUNS"].split():
    data = json.load(open(f"benchmarks/results/{os.environ['SCENARIO']}-restock--{run}.json"))
    reports = data.get("reports", [data])          # one seed: the report itself
    cost = statistics.mean(r["holding_cost"] + r["ordering_cost"] for r in reports)
    sold = sum(s["units_sold"] for r in reports for s in r["per_sku"].values())
    demanded = sum(s["units_demanded"] for r in reports for s in r["per_sku"].values())
    # a unit lost forgoes the SKU's average margin in that run (realised profit is revenue less goods)
    lost_margin = sum((s["units_demanded"] - s["units_sold"]) * s["realised_profit"] / max(s["units_sold"], 1)
                      for r in reports for s in r["per_sku"].values()) / len(reports)
    under = sum(len(r["skus_under_service_target"]) for r in reports)
    fill = statistics.mean(r["fill_rate"] for r in reports)     # as the simulator's summary has it
    print(f"| {run} | {cost:,.0f} | {fill:.5f} | {(demanded - sold) / len(reports):.1f} | {lost_margin:,.0f} | {under}"
          f" | {statistics.mean(r['on_hand_vs_informed'] for r in reports):.3f}"
          f" | {statistics.mean(r['net_profit'] for r in reports):,.0f} |")
PY
