"""State, learned models included, survives a worker restart: it is recovered from the changelog."""

from __future__ import annotations

import json

import pytest
from kafka.admin import ConfigResource

from pricestream.topics_admin import admin_client
from schemas import examples as ex
from schemas.codec import encode
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
    assert sorted(seen["price-changes"], key=lambda e: e["event_id"]) == \
        sorted((e for e in expected if "new_price" in e), key=lambda e: e["event_id"])
    worker.stop()
    producer.close()
    outputs.close()
