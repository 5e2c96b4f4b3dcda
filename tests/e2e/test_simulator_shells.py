"""The offline shell and the Kafka shell of the simulator decide identically (real broker, real worker)."""

from __future__ import annotations

import dataclasses

import pytest

from pricestream.simulator.kafka_shell import kafka_session
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import load_scenario
from streams.app import engine_config

pytestmark = pytest.mark.e2e


def small(name: str, skus: int, periods: int):
    scenario = load_scenario(name, periods=periods)
    return dataclasses.replace(scenario, skus=scenario.skus[:skus])


@pytest.mark.parametrize("policy, restock", [("competitor-match", "fixed-reorder"), ("cost-plus", "fixed-reorder"),
                                             ("learned", "learned")])
def test_offline_and_kafka_shells_give_identical_decisions(kafka_broker, policy, restock):
    scenario = small("standard", skus=4, periods=36)
    settings = kafka_broker.settings.replace(pricing_policy=policy, restock_policy=restock, pricing_seed=5)
    offline = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), seed=3)
    with kafka_session(settings, local_broker=False, progress=lambda *_: None) as (driver, worker):
        via_kafka = simulate(scenario, driver, seed=3)
        assert worker.alive()
    assert len(offline.decisions) > 4          # listings, restocks and moves, not an empty run
    assert via_kafka.decisions == offline.decisions
    assert via_kafka.report == offline.report
