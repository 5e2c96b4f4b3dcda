"""End to end, the ops view: the worker's /metrics on a real broker, and ``pricestream tail``."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import examples as ex
from schemas.codec import encode
from schemas.jsonschema_gen import schema_path
from schemas.topics import INPUT_TOPICS
from streams.counters import ForecastErrors, WorkerCounters
from tests.e2e.harness import Outputs, Producer, isolated_settings, offline_replay, start_worker

pytestmark = pytest.mark.e2e


@pytest.fixture
def worker(kafka_broker, tmp_path):
    running = start_worker(isolated_settings(kafka_broker.settings, pricing_policy="static"), tmp_path)
    yield running
    running.stop()


def scrape(worker) -> dict:
    """/metrics parsed: {(sample name, sorted labels): value}."""
    url = f"http://{worker.settings.web_host}:{worker.settings.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def delta(before: dict, after: dict, name: str) -> dict:
    """How each series of ``name`` moved, as {labels: change}, the unmoved left out."""
    moved = {labels: value - before.get((n, labels), 0) for (n, labels), value in after.items() if n == name}
    return {labels: d for labels, d in moved.items() if d}


def wait_until(condition, timeout_s: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached in {timeout_s} s: {what}")
        time.sleep(0.2)


SKUS = ("OPS-1", "OPS-2", "OPS-3")


def bad_order(sku: str) -> bytes:
    return json.dumps({"schema_version": 1, "event_id": "bad", "order_id": "o", "sku": sku, "event_time_ms": 1,
                       "quantity": None, "unit_price": 20.0}).encode()


# (topic, key, payload, error code): malformed input, one dead letter each
MALFORMED = [
    ("clicks", b"OPS-1", b'{"schema_version":1,"event_id":', "malformed-json"),
    ("clicks", b"OPS-2", b"not json at all", "malformed-json"),
    ("orders", b"OPS-1", bad_order("OPS-1"), "schema-violation"),
    ("competitor-prices", b"OPS-3",
     encode(ex.competitor_price(sku="OPS-3")).replace(b'"price":18.0', b'"price":0'), "non-positive-price"),
    ("inventory", b"OPS-2", None, "empty-payload"),
]


def test_metrics_count_exactly_what_was_sent_and_what_went_to_dead_letter(worker):
    settings = worker.settings
    producer, outputs = Producer(settings), Outputs(settings)
    before = scrape(worker)
    # event times two minutes back: the ticks' decision latency is then measured against real time
    t0 = int(time.time() * 1000) - 180_000
    sent = dict.fromkeys(INPUT_TOPICS, 0)

    def send(record):
        producer.send_record(record)
        sent[record.TOPIC] += 1

    for sku in SKUS:
        send(ex.catalog_entry(sku=sku, event_id=f"cat-{sku}", event_time_ms=t0))
        send(ex.inventory(sku=sku, t=t0 + 1, kind="count", quantity=10))
    for i in range(7):
        send(ex.click(sku=SKUS[i % 3], t=t0 + 10 + i))
    for i in range(5):
        send(ex.order(sku=SKUS[i % 2], t=t0 + 20 + i, quantity=1 + i))
    for i in range(4):
        send(ex.competitor_price(sku=SKUS[i % 3], t=t0 + 30 + i, price=18.0 + i))
    for topic, key, payload, _ in MALFORMED:
        producer.send_raw(topic, key, payload)
        sent[topic] += 1
    producer.tick(t0 + 60_000)
    for i in range(6):
        send(ex.click(sku=SKUS[i % 3], t=t0 + 60_100 + i))
    send(ex.order(sku="OPS-3", t=t0 + 60_200, quantity=2))
    producer.tick(t0 + 120_000)          # lockstep: returns once the worker has committed everything
    sent["clock"] += 2 * settings.partitions

    after = scrape(worker)
    consumed = delta(before, after, "pricestream_events_consumed_total")
    assert consumed == {(("topic", t),): n for t, n in sent.items() if n}
    dead = delta(before, after, "pricestream_dead_letters_total")
    codes = [code for *_, code in MALFORMED]
    assert dead == {(("reason", c),): codes.count(c) for c in set(codes)}
    assert sum(dead.values()) == len(MALFORMED)

    # decisions: exactly what the domain code decides offline on the same messages, each counted once
    expected = offline_replay(settings, producer.sent)
    counted = WorkerCounters()
    for output in expected:
        counted.count_output(output, time.time())
    decisions = delta(before, after, "pricestream_decisions_total")
    assert decisions == {tuple(sorted(zip(("topic", "policy", "reason"), k))): n for k, n in counted.decisions.items()}
    assert any(dict(k)["topic"] == "price-changes" for k in decisions)
    n = counted.decision_latency.count
    latency = delta(before, after, "pricestream_decision_latency_seconds_count")
    assert latency == {(): n}
    # the first tick was a minute before the second, both in the past: every latency is 55 s to 5 min
    buckets = delta(before, after, "pricestream_decision_latency_seconds_bucket")
    assert buckets.get((("le", "30.0"),), 0) == 0 and buckets[(("le", "300.0"),)] == n

    errors = ForecastErrors()
    for output in expected:
        if output.TOPIC == "demand-forecasts":
            errors.observe(output)
    assert errors.count == len(SKUS)                 # each SKU's first-period forecast, scored at the second tick
    assert delta(before, after, "pricestream_forecast_abs_error_count") == {(): errors.count}
    assert after[("pricestream_forecast_abs_error_sum", ())] == pytest.approx(errors.sum)

    # the SKUs' states (and the partitions' indexes) are in the table
    keys = after[("pricestream_table_keys", (("table", "sku-state"),))]
    assert len(SKUS) <= keys <= len(SKUS) + settings.partitions

    # lag: every clock partition reported, and nothing left behind once committed
    def clock_lag():
        lag = {dict(k)["partition"]: v for (name, k), v in scrape(worker).items()
               if name == "pricestream_consumer_lag" and dict(k)["topic"] == "clock"}
        return lag == {str(p): 0 for p in range(settings.partitions)}
    wait_until(clock_lag, what="clock partitions' lag at 0")

    assert worker.alive()
    producer.close()
    outputs.close()


class Lines:
    """A child's stdout, line by line, without blocking the test forever."""

    def __init__(self, process: subprocess.Popen):
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.queue.put(line) for line in process.stdout], daemon=True).start()

    def until(self, predicate, timeout_s: float = 30) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no such line in {timeout_s} s") from None
            if predicate(line):
                return line


def pricestream(settings, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pricestream.cli", *args], env={**os.environ, **settings.to_env()},
                          capture_output=True, text=True, timeout=timeout_s)


def test_tail_finds_the_dead_letters_as_json_by_sku_and_live(worker):
    settings = worker.settings
    producer, outputs = Producer(settings), Outputs(settings)
    producer.send_record(ex.catalog_entry(sku="OPS-1", event_time_ms=1000))
    for topic, key, payload, _ in MALFORMED:
        producer.send_raw(topic, key, payload)
    producer.tick(2000)
    seen = outputs.wait_for_counts(dead_letter=len(MALFORMED), price_changes=1, worker=worker)

    done = pricestream(settings, "tail", "dead-letter", "--json")
    assert done.returncode == 0, done.stderr
    letters = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(letters, key=lambda d: d["event_id"]) == sorted(seen["dead-letter"], key=lambda d: d["event_id"])
    assert sorted((d["source_topic"], d["key"], d["error_code"]) for d in letters) == \
        sorted((t, k.decode(), code) for t, k, _, code in MALFORMED)

    only = pricestream(settings, "tail", "dead-letter", "--json", "--sku", "OPS-2")
    assert sorted(json.loads(line)["error_code"] for line in only.stdout.splitlines()) == \
        ["empty-payload", "malformed-json"]

    table = pricestream(settings, "tail", "price-changes")
    header, row = table.stdout.splitlines()
    assert header.startswith("time (UTC)") and "OPS-1" in row and "- -> 20.00" in row and "list-price" in row
    assert "(1 events; end of" in table.stderr

    # --json: the events as they are on the topic, each valid against the published price-changes schema
    as_json = pricestream(settings, "tail", "price-changes", "--json")
    assert as_json.returncode == 0, as_json.stderr
    changes = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert changes == seen["price-changes"]
    validator = jsonschema.Draft202012Validator(json.loads(schema_path("price-changes").read_text()))
    for change in changes:
        validator.validate(change)

    # --follow: starts at the end, shows what comes next, and Ctrl-C ends it cleanly
    follow = subprocess.Popen([sys.executable, "-m", "pricestream.cli", "tail", "dead-letter", "--follow"],
                              env={**os.environ, **settings.to_env()}, stdout=subprocess.PIPE, text=True)
    try:
        lines = Lines(follow)
        lines.until(lambda line: line.startswith("time (UTC)"))
        producer.send_raw("orders", b"OPS-9", bad_order("OPS-9"))
        producer.flush()
        line = lines.until(lambda line: "OPS-9" in line)
        assert "schema-violation" in line and "orders[" in line
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=15) == 0
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    producer.close()
    outputs.close()
