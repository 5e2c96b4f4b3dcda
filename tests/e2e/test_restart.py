"""State, learned models and the calendar included, survives a worker restart: it is recovered from the
changelog."""

from __future__ import annotations

import json
import time

import pytest
from kafka.admin import ConfigResource

from pricestream.domain.ticks import ticks_for
from pricestream.topics_admin import admin_client
from pricestream.workload import Events
from schemas import examples as ex
from schemas.codec import encode
from schemas.records import Tick
from streams.tables import CHANGELOG_CONFIG
from tests.e2e.harness import Outputs, Producer, isolated_settings, offline_replay, start_worker

pytestmark = pytest.mark.e2e

HOUR = 3_600_000


def play_hours(producer, sku, first, hours):
    for h in range(first, first + hours):
        for v in range(4 + h % 5):
            producer.send_record(ex.click(sku=sku, t=h * HOUR + v, event_id=f"v-{h}-{v}"))
        if h % 3 == 0:
            producer.send_record(ex.order(sku=sku, t=h * HOUR + 50, quantity=1, event_id=f"o-{h}"))
        if h % 7 == 0:
            producer.send_record(ex.competitor_price(sku=sku, t=h * HOUR + 60, price=17.0 + h % 4,
                                                     event_id=f"c-{h}"))
        producer.tick((h + 1) * HOUR)


def test_a_restarted_worker_carries_on_with_the_state_and_models_it_had(kafka_broker, tmp_path):
    settings = isolated_settings(kafka_broker.settings)
    producer, outputs = Producer(settings), Outputs(settings)
    worker = start_worker(settings, tmp_path)
    producer.send_record(ex.catalog_entry(sku="R1", reorder_point=3, order_up_to=30))
    producer.send_record(ex.inventory(sku="R1", kind="count", quantity=40))
    # a fair before the restart (its lift is learned then) and one after (forecast with what was learned)
    producer.send_record(ex.calendar_entry("fair-1", 25 * HOUR, 29 * HOUR, expected_lift=2.0))
    producer.send_record(ex.calendar_entry("fair-2", 33 * HOUR, 37 * HOUR, expected_lift=2.0))
    producer.tick(0)
    play_hours(producer, "R1", 0, 30)
    assert worker.stop() == 0 or worker.process.returncode is not None
    # the changelog closes segments small and often, so the broker compacts it and a restart reads
    # about one record per SKU, not every write since the topic was made
    changelog = settings.state_changelog()
    with admin_client(settings) as admin:
        configs = admin.describe_configs([ConfigResource("topic", changelog, [*CHANGELOG_CONFIG, "cleanup.policy"])],
                                         config_filter="all")["topic"][changelog]
    assert {name: configs[name]["value"] for name in CHANGELOG_CONFIG} == CHANGELOG_CONFIG
    assert configs["cleanup.policy"]["value"] == "compact"

    worker = start_worker(settings, tmp_path)          # same app id and topics: recovers the changelog
    play_hours(producer, "R1", 30, 10)
    expected = [json.loads(encode(o)) for o in offline_replay(settings, producer.sent)]
    seen = outputs.wait_for_counts(demand_forecasts=sum("expected_units" in e for e in expected), worker=worker)
    got_forecasts = sorted(seen["demand-forecasts"], key=lambda e: e["event_time_ms"])
    want_forecasts = sorted((e for e in expected if "expected_units" in e), key=lambda e: e["event_time_ms"])
    # after the restart the worker forecasts exactly as one that never stopped: the views model, the
    # elasticity posterior, the stock and the period counts all came back
    for got, want in zip(got_forecasts, want_forecasts):
        assert got == want, {k: (got[k], want[k]) for k in got if got[k] != want[k]}
    assert len(got_forecasts) == len(want_forecasts)
    assert got_forecasts[-1]["forecast_model"] != "none-yet" and got_forecasts[-1]["expected_views"] > 3
    # the calendar copy and the lift learned at the first fair came back too: the second fair's
    # forecasts are lifted, from its first hour on, by that lift and not the shop's guess of 2
    lifted = [f["calendar_lift"] for f in got_forecasts if 33 * HOUR <= f["event_time_ms"] < 37 * HOUR]
    assert len(lifted) == 4 and all(lift != 1.0 for lift in lifted) and abs(lifted[0] - 2.0) > 0.05
    assert sorted(seen["price-changes"], key=lambda e: e["event_id"]) == \
        sorted((e for e in expected if "new_price" in e), key=lambda e: e["event_id"])
    worker.stop()
    producer.close()
    outputs.close()


def test_a_worker_started_onto_a_backlog_handles_every_message_of_it(kafka_broker, tmp_path):
    """Events and ticks written while the worker was down, to partitions its group never committed.

    A starting worker fetches input records while its streams are held for recovery; they never reach
    the agent, and the seek after recovery used to leave never-committed partitions past them: those
    events were lost and a lone tick left its partition's commit short of the end for good (the
    "stall"). It is a race, seen in about half the starts, so the test makes two of them. (Outputs are
    not compared with an offline replay: read from a backlog, a tick may overtake its hour's events.)
    """
    for attempt in range(2):
        settings = isolated_settings(kafka_broker.settings)
        producer = Producer(settings)
        worker = start_worker(settings, tmp_path)
        skus = [f"BACK-{attempt}-{i:03d}" for i in range(300)]
        for sku in skus:
            producer.send_record(ex.catalog_entry(sku=sku))
            producer.send_record(ex.inventory(sku=sku, kind="count", quantity=40))
        producer.flush()
        producer.lockstep.wait_committed(producer.produced(), 60)
        assert worker.stop() == 0 or worker.process.returncode is not None

        sent = len(producer.sent)
        events = Events(skus, seed=attempt + 1, prefix=f"back{attempt}")
        for i in range(6000):
            producer.send_record(events.next(1 + i * (HOUR - 2) // 6000))
        for tick in ticks_for(HOUR, settings.partitions):
            producer.send_raw(Tick.TOPIC, str(tick.partition).encode(), encode(tick), partition=tick.partition)
        backlog = len(producer.flush())
        assert len(producer.sent) - sent == backlog == 6000 + settings.partitions

        worker = start_worker(settings, tmp_path)
        producer.lockstep.wait_committed(producer.produced(), 90)     # every partition's end, ticks too
        status = settled_status(worker)
        # every message of the backlog handled once: redeliveries (the seek back) are recognised and
        # skipped by the SKU's offsets, so they cannot stand in for one that was lost
        assert status["consumed_total"] - status["replays_skipped"] == backlog, (attempt, status)
        worker.stop()
        producer.close()


def settled_status(worker, quiet_s: float = 2.0, timeout_s: float = 30.0) -> dict:
    """The worker's counters once they have stopped moving (a commit can land before the last counts)."""
    deadline = time.monotonic() + timeout_s
    last = worker.status()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = worker.status()
        if now["consumed_total"] == last["consumed_total"]:
            return now
        last = now
    raise TimeoutError(f"the worker's counts kept moving: {last}")
