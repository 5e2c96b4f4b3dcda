"""``pricestream bench`` at a small size on the real broker, so that it cannot rot.

Its figures are printed (and saved to ``tests/artifacts/bench-small.json``), not judged: a shared CI
machine's pace says nothing. What is asserted is that every measurement ran to the end and counted
what it had to: every message read by the engine, the raw loop and the minimal Faust agent, decisions
read back with their latencies, state recovered after a restart, one row per catalogue size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pricestream.bench import BenchPlan, run_bench

pytestmark = pytest.mark.e2e

ARTIFACT = Path(__file__).parents[1] / "artifacts" / "bench-small.json"


def test_the_benchmark_runs_every_measurement_at_a_small_size(kafka_broker, capsys):
    plan = BenchPlan(events=20_000, skus=200, latency_rate=400.0, latency_s=12.0, latency_skus=60,
                     latency_period_s=3.0, recovery_skus=1_000, growth_skus=(100, 1_000), growth_events=5_000,
                     timeout_s=300.0)       # a worker that stops making progress fails the test, not the CI clock
    saved: list[list[str]] = []         # the phases each save saw: a late failure keeps the earlier figures
    report = run_bench(kafka_broker.settings, plan, local_broker=False, progress=print,
                       on_phase=lambda partial: saved.append([p for p in plan.phases if p in partial]))
    assert saved == [list(plan.phases[:n]) for n in range(1, len(plan.phases) + 1)]
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(report, indent=2) + "\n")
    with capsys.disabled():
        print("\nbench (small):", json.dumps({k: report[k] for k in ("throughput", "scale", "growth")}))

    throughput = report["throughput"]
    # the events, then one tick per partition: everything drained and committed
    assert throughput["engine"]["messages"] == plan.events + kafka_broker.settings.partitions
    # the baselines read the catalogue too (two messages per SKU), and all of it
    assert throughput["raw"]["messages"] == throughput["faust_floor"]["messages"] == \
        throughput["engine"]["messages"] + 2 * plan.skus
    for figure in (throughput["events_per_s"], throughput["raw_events_per_s"], throughput["faust_floor_events_per_s"]):
        assert figure > 0
    assert 0 < throughput["ratio"] == round(throughput["events_per_s"] / throughput["raw_events_per_s"], 3)
    assert throughput["engine"]["cpu_s_per_1000_events"] > 0 and throughput["engine"]["peak_rss_mb"] > 50

    latency = report["latency"]
    assert latency["achieved_rate"] >= 0.9 * plan.latency_rate
    # every SKU gets its first price at the first tick, and the low stock brings restocks
    assert latency["price-changes"]["produce"]["count"] >= plan.latency_skus
    assert latency["restock-orders"]["produce"]["count"] > 0
    for topic in ("price-changes", "restock-orders"):
        produce, visible = latency[topic]["produce"], latency[topic]["visible"]
        assert 0 <= produce["p50_ms"] <= produce["p99_ms"] <= produce["p999_ms"] <= produce["max_ms"]
        # a decision becomes visible to read_committed consumers after it was produced, never before
        assert visible["p50_ms"] >= produce["p50_ms"]

    scale = report["scale"]
    assert scale["decided"]["skus"] == plan.recovery_skus and scale["recovery_s"] > 0
    # every SKU decided has its state in the changelog the restarted worker read (partition indexes too)
    assert scale["changelog_records"] > plan.recovery_skus
    assert scale["rss_mb"]["after_recovery"] > scale["rss_mb"]["empty"]

    assert [row["skus"] for row in report["growth"]] == list(plan.growth_skus)
    assert all(row["messages"] == plan.growth_events and row["events_per_s"] > 0 for row in report["growth"])
