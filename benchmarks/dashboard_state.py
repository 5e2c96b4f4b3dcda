"""What the dashboard's state costs at catalogue scale: memory, messages applied per second, a table page.

    .venv/bin/python benchmarks/dashboard_state.py [--skus 10000] [--periods 96]

Plays a catalogue of N SKUs with a stock count, two competitors, and one demand forecast and one price
change per SKU and period (a full chart history), through ``DashboardState`` as the reader hands it
messages; prints the figures as JSON (memory: the growth of the process's peak RSS, which includes one
period's batch of encoded messages).
"""

from __future__ import annotations

import argparse
import json
import random
import time
import resource

from pricestream.dashboard.state import DashboardState
from schemas import examples as ex
from schemas.codec import encode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--periods", type=int, default=96)
    args = parser.parse_args()
    rng = random.Random(1)
    skus = [f"SKU-{i:06d}" for i in range(args.skus)]

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    state = DashboardState()
    setup = []
    for sku in skus:
        for record in (ex.catalog_entry(sku=sku, event_id=f"c-{sku}"),
                       ex.inventory(sku=sku, kind="count", quantity=100),
                       ex.competitor_price(sku=sku, competitor="a", price=rng.uniform(12, 30)),
                       ex.competitor_price(sku=sku, competitor="b", price=rng.uniform(12, 30))):
            setup.append((record.TOPIC, sku.encode(), encode(record), 0))
    started = time.perf_counter()
    state.apply_many(setup)
    input_rate = len(setup) / (time.perf_counter() - started)

    applied, spent = 0, 0.0
    for period in range(args.periods):
        t = (period + 1) * 3_600_000
        batch = []
        for sku in skus:
            price = round(rng.uniform(12, 30), 2)
            batch.append(("demand-forecasts", sku.encode(), json.dumps({
                "event_id": f"f-{sku}-{t}", "sku": sku, "event_time_ms": t, "observed_views": 40,
                "observed_units": rng.randrange(5), "price": price, "competitor_price": 18.0,
                "expected_units": rng.uniform(0, 5), "units_std": 1.0, "elasticity": -2.0, "elasticity_sd": 0.4,
                "cross_elasticity": 0.5, "forecast_model": "seasonal"}).encode(), t))
            batch.append(("price-changes", sku.encode(), json.dumps({
                "event_id": f"p-{sku}-{t}", "sku": sku, "event_time_ms": t, "policy": "learned", "old_price": 20.0,
                "new_price": price, "reasons": ["exploration"]}).encode(), t))
        started = time.perf_counter()
        state.apply_many(batch)
        spent += time.perf_counter() - started
        applied += len(batch)
        state.take_changes()
    del setup, batch
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss     # KiB on Linux

    def timed(call, repeat=5):
        started = time.perf_counter()
        for _ in range(repeat):
            call()
        return (time.perf_counter() - started) / repeat * 1000

    print(json.dumps({
        "skus": args.skus, "periods": args.periods,
        "peak_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
        "inputs_per_s": round(input_rate), "outputs_per_s": round(applied / spent),
        "page_by_sku_ms": round(timed(lambda: state.page()), 1),
        "page_by_price_desc_ms": round(timed(lambda: state.page(sort="price", descending=True, offset=5000)), 1),
        "page_by_vs_rival_ms": round(timed(lambda: state.page(sort="vs_competitor")), 1),
        "search_ms": round(timed(lambda: state.page(query="SKU-0042")), 1),
        "sku_detail_ms": round(timed(lambda: state.sku_detail(skus[0])), 2),
        "summary_ms": round(timed(lambda: state.summary()), 2),
    }, indent=2))


if __name__ == "__main__":
    main()
