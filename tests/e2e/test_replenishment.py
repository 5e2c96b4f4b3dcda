"""End to end, learned restocking on the real broker: a producer's retried order or receipt changes
nothing, and one need is ordered once, however many ticks pass before the goods arrive."""

from __future__ import annotations

import json

import pytest

from schemas import examples as ex
from schemas.codec import encode
from tests.e2e.harness import Outputs, Producer, isolated_settings, offline_replay, start_worker

pytestmark = pytest.mark.e2e

SKU = "E2E-R"
HOUR = 3_600_000
CATALOG = ex.catalog_entry(sku=SKU, event_id="cat-r", list_price=20.0, unit_cost=10.0, min_price=12.0,
                           max_price=30.0, lead_time_days_mean=1.0, lead_time_days_std=0.0, service_level=0.95,
                           order_cost=20.0)


def test_retried_orders_and_receipts_count_once_and_one_need_is_ordered_once(kafka_broker, tmp_path):
    settings = isolated_settings(kafka_broker.settings, pricing_policy="static", restock_policy="learned")
    worker = start_worker(settings, tmp_path)
    producer, outputs = Producer(settings), Outputs(settings)
    try:
        producer.send_record(CATALOG)
        producer.send_record(ex.inventory(sku=SKU, t=0, kind="count", quantity=60))
        producer.tick(HOUR)
        # a day of steady demand, every order sent twice (a producer's retry: same event_id)
        order_no = 0
        for hour in range(1, 25):
            for v in range(20):
                producer.send_record(ex.click(sku=SKU, t=hour * HOUR + v))
            for _ in range(2):
                order_no += 1
                order = ex.order(sku=SKU, t=hour * HOUR + 100 + order_no, quantity=1, unit_price=20.0)
                producer.send_record(order)
                producer.send_record(order)                     # the retry
            producer.tick((hour + 1) * HOUR)
        seen = outputs.wait_for_counts(restock_orders=1, demand_forecasts=25, worker=worker, timeout_s=90)
        [restock] = seen["restock-orders"]
        # 60 counted, two units sold an hour until the tick that ordered: the retries did not count
        hours_sold = restock["event_time_ms"] // HOUR - 1
        assert restock["on_hand"] == 60 - 2 * hours_sold and restock["on_order"] == 0
        assert restock["policy"] == "learned" and restock["inventory_position"] <= restock["reorder_point"]
        # more ticks before the goods arrive: the open order covers the need, no second order
        for hour in range(25, 29):
            producer.tick((hour + 1) * HOUR)
        producer.send_record(ex.inventory(sku=SKU, t=29 * HOUR + 1, kind="receipt", quantity=restock["quantity"],
                                          restock_id=restock["restock_id"], event_id="receipt-1"))
        producer.send_record(ex.inventory(sku=SKU, t=29 * HOUR + 1, kind="receipt", quantity=restock["quantity"],
                                          restock_id=restock["restock_id"], event_id="receipt-1"))   # the retry
        producer.tick(30 * HOUR)
        seen = outputs.wait_for_counts(demand_forecasts=30, worker=worker, timeout_s=90)
        assert len(seen["restock-orders"]) == 1

        # everything the worker emitted is what the domain emits for the stream without the retries
        once, ids = [], set()
        for m in producer.sent:
            event_id = json.loads(m.value).get("event_id") if m.topic in ("orders", "inventory") else None
            if event_id is not None and event_id in ids:
                continue
            ids.add(event_id)
            once.append(m)
        assert len(once) == len(producer.sent) - 48 - 1
        expected = [json.loads(encode(o)) for o in offline_replay(settings, once)]
        for topic, key in (("restock-orders", "restock_id"), ("price-changes", "new_price")):
            got = sorted(json.dumps(e, sort_keys=True) for e in seen[topic])
            want = sorted(json.dumps(e, sort_keys=True) for e in expected if key in e and
                          ("restock_id" in e) == (topic == "restock-orders"))
            assert got == want, topic
        assert worker.process.poll() is None
    finally:
        producer.close()
        outputs.close()
        worker.stop()
