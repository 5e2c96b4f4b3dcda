#!/usr/bin/env bash
# What segment pricing earns: `segmented` with its segments and listed without them (one price per SKU,
# the segments still buy apart), and the same on a copy whose competitors watch the lowest segment
# price instead of the web one (the reacting one then answers our cheapest channel), over SEEDS seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
PS=${PRICESTREAM:-.venv/bin/pricestream}
SEEDS=${SEEDS:-3}
mkdir -p benchmarks/results
.venv/bin/python benchmarks/scenario_variant.py segmented watching-lowest benchmarks/results/segmented-watching-lowest.scenario.json
# the most segment prices can bring on these SKUs: the oracle's profit per segment against the best single
# price per SKU, with no competitor in stock, weighted by each SKU's views; and what placing the spread's
# band by profit is worth: each segment's own optimum fitted into a band centred on their views-weighted
# mean (``fit_spread``) against the best band (``segment_oracle_prices``), on the true demand
.venv/bin/python - <<'PY'
import dataclasses
import numpy as np
from pricestream.domain.segments import fit_spread
from pricestream.simulator.oracle import oracle_price, price_bounds, segment_oracle_prices, segment_oracle_profit
from pricestream.simulator.scenario import load_scenario
one = per_segment = centred = 0.0
for sku in load_scenario("segmented").skus:
    if not sku.segments:
        continue
    low, high = price_bounds(sku)
    single = max(segment_oracle_profit(sku, 1.0, None, {s.name: p for s in sku.segments})
                 for p in np.geomspace(low, high, 2000))
    one += single * sku.views.rate_per_period
    per_segment += segment_oracle_profit(sku, 1.0, None, segment_oracle_prices(sku, None)) * sku.views.rate_per_period
    own = {s.name: oracle_price(dataclasses.replace(sku, purchase=s.purchase, segments=()), s.view_share, None)[0]
           for s in sku.segments}
    fitted, _ = fit_spread(own, {s.name: s.view_share for s in sku.segments}, sku.max_segment_spread_pct)
    centred += segment_oracle_profit(sku, 1.0, None, fitted) * sku.views.rate_per_period
print(f"segmented: the oracle's prices per segment earn {per_segment / one - 1:+.1%} over its best single price per SKU")
print(f"segmented: a spread band centred on the segments' optima earns {centred / per_segment - 1:+.2%} against the best band")
PY
summary() {
  .venv/bin/python -c "
import json; d = json.load(open('$1')); s = d['summary']
per_seed = ', '.join(f\"{r['profit']:.0f}\" for r in d['reports'])
print(f\"{s['scenario']:<26} {'$2':<9} profit {s['profit']['mean']:9.0f} ({per_seed})  \"
      f\"profit_ratio {s['profit_ratio']['mean']:.3f} (min {s['profit_ratio']['min']:.3f})  oracle {s['oracle_profit']['mean']:9.0f}\")"
}
for scenario in segmented benchmarks/results/segmented-watching-lowest.scenario.json; do
  name=benchmarks/results/$(basename "$scenario" .scenario.json)
  # the two variants side by side: a run uses one core
  $PS simulate --scenario "$scenario" --policy learned --restock-policy learned --seeds "$SEEDS" \
    --quiet --report-json "$name--segments.json" >/dev/null &
  segments=$!
  $PS simulate --scenario "$scenario" --policy learned --restock-policy learned --seeds "$SEEDS" \
    --without-segments --quiet --report-json "$name--one-price.json" >/dev/null &
  one_price=$!
  wait "$segments"; wait "$one_price"      # set -e: a failed run stops the script
  summary "$name--segments.json" segments
  summary "$name--one-price.json" one-price
done
