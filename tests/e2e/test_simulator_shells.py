"""The offline shell and the Kafka shell of the simulator decide identically (real broker, real worker),
calendar included; ``pricestream calendar`` writes every partition."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from pricestream.calendar_command import run_calendar_command
from pricestream.kafka_clients import read_committed
from pricestream.simulator.kafka_shell import kafka_session
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import CalendarSpec, load_scenario
from schemas.codec import decode
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


def test_a_calendar_announced_mid_run_reaches_every_partition_and_both_shells_decide_alike(kafka_broker):
    """A holiday known from the start and a campaign announced half a day in: the Kafka shell writes
    each entry to every partition, the worker keeps each partition's copy in its state, and its
    forecasts and orders are the offline shell's, byte for byte."""
    scenario = dataclasses.replace(small("holidays", skus=4, periods=60), calendar=(
        CalendarSpec("fair", "fair", "holiday", start_day=0.5, end_day=0.75, lift=1.5),
        CalendarSpec("promo", "promo", "campaign", start_day=1.25, end_day=2.0, lift=2.5, publish_day=0.5,
                     expected_lift=2.0),
    ))
    settings = kafka_broker.settings.replace(pricing_policy="learned", restock_policy="learned", pricing_seed=5)
    offline = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), seed=3)
    unannounced = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), seed=3,
                           publish_calendar=False)
    assert offline.decisions != unannounced.decisions       # the calendar changed what the engine decided
    with kafka_session(settings, local_broker=False, progress=lambda *_: None) as (driver, worker):
        via_kafka = simulate(scenario, driver, seed=3)
        copies = read_committed(driver.settings, keep=lambda m: (m.partition, m.key), topics=["calendar"])
        assert worker.alive()
    assert sorted(copies["calendar"]) == sorted((p, key) for p in range(settings.partitions)
                                                for key in (b"fair", b"promo"))
    assert via_kafka.decisions == offline.decisions
    assert via_kafka.report == offline.report


def test_calendar_publish_writes_each_entry_to_every_partition_and_remove_writes_tombstones(kafka_broker, tmp_path):
    settings = kafka_broker.settings.replace(topic_prefix="calendar-cli.")
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps([
        {"calendar_id": "black-friday-2026", "kind": "holiday", "effect": "black-friday",
         "start_ms": 1795737600000, "end_ms": 1795824000000, "expected_lift": 2.5},
        {"calendar_id": "heat-2026-07-01", "kind": "signal", "effect": "heat", "value": 31.5,
         "start_ms": 1782864000000, "end_ms": 1782950400000},
    ]))
    assert run_calendar_command(argparse.Namespace(action="publish", file=str(path), dry_run=False), settings) == 0
    assert run_calendar_command(argparse.Namespace(action="remove", ids=["heat-2026-07-01"]), settings) == 0
    records = read_committed(settings, keep=lambda m: (m.partition, m.key, m.value), topics=["calendar"])["calendar"]
    assert len(records) == 3 * settings.partitions
    for p in range(settings.partitions):
        mine = [(key, value) for partition, key, value in records if partition == p]
        assert [key for key, _ in mine] == [b"black-friday-2026", b"heat-2026-07-01", b"heat-2026-07-01"]
        assert decode("calendar", mine[0][0], mine[0][1], 65536).expected_lift == 2.5
        assert mine[2][1] is None                              # the tombstone


def test_segment_prices_through_kafka_are_the_offline_ones(kafka_broker):
    """Clicks and orders carry their segment through the broker, the worker prices each segment of the
    segmented SKUs (SEG-06 is not segmented: one price), and both shells decide alike."""
    scenario = load_scenario("segmented", periods=30)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:3] + scenario.skus[5:6])
    settings = kafka_broker.settings.replace(pricing_policy="learned", restock_policy="learned", pricing_seed=5)
    offline = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), seed=3)
    with kafka_session(settings, local_broker=False, progress=lambda *_: None) as (driver, worker):
        via_kafka = simulate(scenario, driver, seed=3)
        assert worker.alive()
    assert via_kafka.decisions == offline.decisions
    assert via_kafka.report == offline.report
    changes = [json.loads(raw) for topic, raw in via_kafka.decisions if topic == "price-changes"]
    named = {(c["sku"], c["segment"]) for c in changes}
    assert {("SEG-01", "web"), ("SEG-01", "app"), ("SEG-01", "marketplace"), ("SEG-06", None)} <= named
    assert not any(c["sku"] == "SEG-06" and c["segment"] is not None for c in changes)
    # a price per segment, not one price three times
    last = {(c["sku"], c["segment"]): c["new_price"] for c in changes}
    assert any(len({p for (sku, seg), p in last.items() if sku == s and seg}) > 1
               for s in ("SEG-01", "SEG-02", "SEG-03"))
