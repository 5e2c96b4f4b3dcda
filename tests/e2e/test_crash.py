"""Exactly-once under crashes: the worker is SIGKILLed and restarted at random moments of a run, and
the committed outputs are still those of an uninterrupted run, event for event."""

from __future__ import annotations

import dataclasses

import pytest

from pricestream.crash_test import passed, run_crash_test
from pricestream.simulator.scenario import load_scenario

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("store, periods, kills", [("memory://", 36, 5), ("rocksdb://", 24, 3)])
def test_a_killed_worker_loses_and_duplicates_nothing(kafka_broker, store, periods, kills):
    scenario = load_scenario("standard", periods=periods)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:4])
    settings = kafka_broker.settings.replace(pricing_policy="learned", restock_policy="learned", pricing_seed=5,
                                             store=store)
    report = run_crash_test(scenario, settings, seed=3, kills=kills, local_broker=False, progress=print)
    assert report["kills"] == report["restarts"] == kills
    assert report["decisions"] > 3 * periods    # listings, forecasts and moves: not an empty run
    per_topic = {t: {k: v[k] for k in ("reference", "output", "lost", "duplicated", "extra", "first_difference")}
                 for t, v in report["per_topic"].items()}
    assert (report["lost"], report["duplicated"], report["extra"]) == (0, 0, 0), per_topic
    # every SKU's events in the same order as without crashes, and the market saw the same decisions
    assert report["identical"] and report["market_saw_identical_decisions"], per_topic
    assert passed(report)
