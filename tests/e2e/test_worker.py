"""End to end: the real broker, ``pricestream worker`` as a subprocess, events in, events out."""

from __future__ import annotations

import json
import time

import pytest

from schemas import examples as ex
from schemas.codec import deterministic_id, encode
from tests.e2e.harness import Outputs, Producer, isolated_settings, offline_replay, start_worker

pytestmark = pytest.mark.e2e

A, B = "E2E-A", "E2E-B"
CATALOG_A = ex.catalog_entry(sku=A, event_id="cat-a", list_price=20.0, unit_cost=10.0, min_price=12.0,
                             max_price=30.0, max_step_pct=0.2, reorder_point=5, order_up_to=20)
CATALOG_B = ex.catalog_entry(sku=B, event_id="cat-b", list_price=20.0, restock_enabled=False)


def valid_order_json(**changes) -> bytes:
    base = {"schema_version": 1, "event_id": "bad", "order_id": "o", "sku": A, "event_time_ms": 5000,
            "quantity": 1, "unit_price": 20.0}
    return json.dumps({**base, **changes}).encode()


# (topic, key, payload, expected error code): one of each kind of bad input
BAD_INPUTS = [
    ("clicks", A.encode(), b'{"schema_version":1,"event_id":', "malformed-json"),
    ("orders", A.encode(), valid_order_json(quantity=None), "schema-violation"),
    ("orders", A.encode(), b'{"schema_version":1,"event_id":"n","order_id":"o","sku":"E2E-A","event_time_ms":1,'
                           b'"quantity":1,"unit_price":NaN}', "non-finite-number"),
    ("orders", A.encode(), valid_order_json().replace(b"20.0", b"1e999"), "non-finite-number"),
    ("orders", A.encode(), valid_order_json(unit_price=-4.0), "non-positive-price"),
    ("competitor-prices", A.encode(), encode(ex.competitor_price(sku=A)).replace(b'"price":18.0', b'"price":0'),
     "non-positive-price"),
    ("orders", A.encode(), valid_order_json(quantity=5_000_000), "absurd-quantity"),
    ("clicks", b"NOBODY", encode(ex.click(sku="NOBODY")), "unknown-sku"),
    ("clicks", A.encode(), b'{"pad":"' + b"x" * 70_000 + b'"}', "payload-too-large"),
    ("clicks", A.encode(), b'{"sku":"\xff\xfe"}', "invalid-utf8"),
    ("clicks", B.encode(), encode(ex.click(sku=A)), "key-mismatch"),
]


@pytest.fixture
def worker(kafka_broker, tmp_path):
    settings = isolated_settings(kafka_broker.settings, pricing_policy="competitor-match",
                                restock_policy="fixed-reorder")      # the catalogue's rule: exact quantities
    running = start_worker(settings, tmp_path)
    yield running
    running.stop()


def by_id(events):
    return sorted(events, key=lambda e: e["event_id"])


def test_worker_prices_restocks_and_dead_letters_exactly_as_the_domain_decides(worker):
    settings = worker.settings
    producer, outputs = Producer(settings), Outputs(settings)

    # 1. listing: each SKU gets a first price at the first tick; A's shelf is counted empty: restock
    producer.send_record(CATALOG_A)
    producer.send_record(CATALOG_B)
    producer.tick(100)
    seen = outputs.wait_for_counts(price_changes=2, worker=worker)
    assert sorted((e["sku"], e["old_price"], e["new_price"], e["event_time_ms"]) for e in seen["price-changes"]) == \
        [(A, None, 20.0, 100), (B, None, 20.0, 100)]
    assert seen["restock-orders"] == []                   # A's stock is not known yet
    producer.send_record(ex.inventory(sku=A, t=500, kind="count", quantity=0))
    producer.tick(600)
    seen = outputs.wait_for_counts(restock_orders=1, worker=worker)
    first_restock = seen["restock-orders"][0]
    assert (first_restock["sku"], first_restock["quantity"], first_restock["inventory_position"]) == (A, 20, 0.0)
    assert first_restock["restock_id"] == deterministic_id("restock", A, 1)

    # 2. a competitor undercuts: at the next tick we follow, one percent below, inside the 20% step
    producer.send_record(ex.competitor_price(sku=A, t=1000, price=18.0))
    producer.tick(1100)
    seen = outputs.wait_for_counts(price_changes=3, worker=worker)
    move = seen["price-changes"][2]
    assert (move["old_price"], move["new_price"], move["reasons"]) == (20.0, 17.82, ["competitor-undercut"])
    assert (move["inputs"]["competitor_price"], move["trigger"]) == (18.0, "competitor-prices")

    # 3. the restock arrives and sales bring A to its reorder point: one new order for the gap, not two
    producer.send_record(ex.inventory(sku=A, t=2000, kind="receipt", quantity=20, restock_id=first_restock["restock_id"]))
    for i in range(4):
        producer.send_record(ex.order(sku=A, t=3000 + i, quantity=4, unit_price=17.82))
    producer.tick(4000)
    producer.tick(5000)
    seen = outputs.wait_for_counts(restock_orders=2, worker=worker)
    second = seen["restock-orders"][1]
    assert (second["quantity"], second["inventory_position"], second["on_order"]) == (16, 4.0, 0.0)

    # 4. every kind of bad input goes to dead-letter; the valid event after each is still decided
    expected_codes = {}
    for i, (topic, key, payload, code) in enumerate(BAD_INPUTS):
        producer.send_raw(topic, key, payload)
        [bad] = producer.flush()
        expected_codes[(topic, bad.partition, bad.offset)] = code
        producer.send_record(ex.competitor_price(sku=B, t=10_000 + 10 * i, price=19.0 if i % 2 == 0 else 19.5))
        producer.tick(10_005 + 10 * i)
    seen = outputs.wait_for_counts(dead_letter=len(BAD_INPUTS), price_changes=3 + len(BAD_INPUTS), worker=worker)

    letters = {(d["source_topic"], d["partition"], d["offset"]): d for d in seen["dead-letter"]}
    assert {k: d["error_code"] for k, d in letters.items()} == expected_codes
    for (topic, partition, offset), d in letters.items():
        assert d["event_id"] == deterministic_id("dead-letter", topic, partition, offset) and d["error"]
    oversized = next(d for d in letters.values() if d["error_code"] == "payload-too-large")
    assert oversized["raw_payload_truncated"] and oversized["raw_payload_bytes"] > 70_000
    assert next(d for d in letters.values() if d["error_code"] == "invalid-utf8")["raw_payload_encoding"] == "base64"
    b_prices = [e["new_price"] for e in seen["price-changes"] if e["sku"] == B]
    assert b_prices == [20.0] + [18.81 if i % 2 == 0 else 19.3 for i in range(len(BAD_INPUTS))]   # 19.305 -> 19.30

    # the worker emitted exactly what the domain code emits offline on the same messages, ids included
    expected = [json.loads(encode(o)) for o in offline_replay(settings, producer.sent)]
    outputs.wait_for_counts(demand_forecasts=sum(_topic_of(e) == "demand-forecasts" for e in expected), worker=worker)
    for topic in ("price-changes", "restock-orders", "demand-forecasts", "dead-letter"):
        assert by_id(seen[topic]) == by_id(e for e in expected if _topic_of(e) == topic), topic

    # the dead-letter count is visible on the status page and in the log; the worker never restarted
    wait_until(lambda: worker.status()["dead_letters_total"] == len(BAD_INPUTS))
    assert worker.process.poll() is None
    wait_until(lambda: f"dead_letters={len(BAD_INPUTS)}" in worker.log())
    producer.close()
    outputs.close()


def _topic_of(event: dict) -> str:
    if "error_code" in event:
        return "dead-letter"
    if "expected_units" in event:
        return "demand-forecasts"
    return "restock-orders" if "restock_id" in event else "price-changes"


def wait_until(condition, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.2)


def test_kcat_reads_decisions_that_validate_against_their_schemas(worker):
    """An outside client (Debian's kcat, librdkafka) reads the outputs; an independent validator checks them."""
    import shutil
    import subprocess

    import jsonschema

    from schemas.jsonschema_gen import schema_path

    settings = worker.settings
    producer, outputs = Producer(settings), Outputs(settings)
    producer.send_record(CATALOG_A)
    producer.send_record(CATALOG_B)
    producer.send_record(ex.inventory(sku=A, t=10, kind="count", quantity=3))
    producer.tick(20)
    producer.send_record(ex.competitor_price(sku=B, t=50, price=18.5))
    producer.tick(60)
    outputs.wait_for_counts(price_changes=3, restock_orders=1, worker=worker)

    kcat = shutil.which("kcat")
    assert kcat, "kcat is installed by 'make test' (apt-get install kcat)"
    for topic, expected in (("price-changes", 3), ("restock-orders", 1)):
        run = subprocess.run(
            [kcat, "-C", "-b", settings.bootstrap_servers, "-t", settings.topic(topic), "-o", "beginning", "-e",
             "-q", "-f", "%s\\n", "-X", "isolation.level=read_committed"],
            capture_output=True, timeout=60, check=True)
        events = [json.loads(line) for line in run.stdout.decode().splitlines() if line.strip()]
        assert len(events) == expected, run.stderr.decode()
        schema = json.loads(schema_path(topic).read_text())
        for event in events:
            jsonschema.validate(event, schema, cls=jsonschema.Draft202012Validator,
                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    producer.close()
    outputs.close()
