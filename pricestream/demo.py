"""``pricestream demo``: the local broker, a worker and a small market, with decisions printed live.

The market here is deliberately small (a few SKUs, Poisson page views, a price-sensitive conversion,
competitors on a random walk, receipts arriving a lead time after each restock order). It runs in
simulated time: fifteen minutes of shop time pass every quarter of a second.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pricestream.settings import Settings
from schemas.examples import catalog_entry
from schemas.records import SCHEMA_VERSION, Click, CompetitorPrice, InventoryEvent, Order
from schemas.topics import INPUT_TOPICS, OUTPUT_TOPICS

STEP_MS = 15 * 60 * 1000          # simulated time per step
STEP_WALL_S = 0.25                # wall time per step
DAY_MS = 24 * 3600 * 1000
DEMO_APP_ID = "pricestream-demo"


@dataclass
class DemoSku:
    sku: str
    list_price: float
    unit_cost: float
    price: float
    views_per_step: float
    elasticity: float
    competitors: dict[str, float]
    lead_time_days: float


class DemoMarket:
    """Generates the shop's events step by step; reacts to our prices and restock orders."""

    def __init__(self, skus: int, seed: int, start_ms: int, run_tag: str):
        self.rng = np.random.default_rng(seed)
        self.now = start_ms
        self.tag = run_tag
        self.seq = 0
        self.deliveries: list[tuple[int, str, str, int]] = []     # (due time, sku, restock_id, qty)
        self.skus: dict[str, DemoSku] = {}
        for i in range(skus):
            list_price = float(np.round(self.rng.uniform(15, 120), 2))
            self.skus[f"DEMO-{i:03d}"] = DemoSku(
                sku=f"DEMO-{i:03d}", list_price=list_price, unit_cost=round(list_price * 0.6, 2), price=list_price,
                views_per_step=float(self.rng.uniform(1.5, 6)), elasticity=float(self.rng.uniform(-3.5, -1.5)),
                competitors={c: round(list_price * float(self.rng.uniform(0.9, 1.1)), 2) for c in ("acme", "bolt", "cargo")},
                lead_time_days=float(self.rng.uniform(0.5, 2)))

    def _id(self, kind: str) -> str:
        self.seq += 1
        return f"demo-{self.tag}-{kind}-{self.seq}"

    def catalogue(self):
        for s in self.skus.values():
            yield catalog_entry(
                sku=s.sku, event_id=self._id("catalog"), event_time_ms=self.now, unit_cost=s.unit_cost,
                list_price=s.list_price, min_price=round(s.unit_cost * 1.1, 2), max_price=round(s.list_price * 1.4, 2),
                lead_time_days_mean=s.lead_time_days, lead_time_days_std=0.3, max_step_pct=0.08,
                min_change_interval_s=3600, reorder_point=8, order_up_to=40)

    def stock_counts(self):
        for s in self.skus.values():
            yield InventoryEvent(SCHEMA_VERSION, self._id("count"), s.sku, self.now + 1, "count", 25, None)

    def step(self):
        """One step of events, times inside [now, now + STEP_MS): views, orders at our current price,
        competitor moves, receipts due. The tick at its end is the caller's."""
        hour = (self.now // 3_600_000) % 24
        daily = 0.5 + 0.8 * math.sin(math.pi * max(0, hour - 6) / 16) if 6 <= hour <= 22 else 0.3
        for s in self.skus.values():
            t = self.now + int(self.rng.integers(0, STEP_MS))
            for _ in range(int(self.rng.poisson(s.views_per_step * daily))):
                yield Click(SCHEMA_VERSION, self._id("click"), s.sku, t)
            cheapest = min(s.competitors.values())
            conversion = min(0.9, 0.12 * (s.price / s.list_price) ** s.elasticity * (cheapest / s.price) ** 0.8)
            units = int(self.rng.poisson(s.views_per_step * daily * conversion))
            if units:
                oid = self._id("order")
                yield Order(SCHEMA_VERSION, oid, oid, s.sku, t, units, s.price)
            if self.rng.random() < 0.08:
                name = str(self.rng.choice(sorted(s.competitors)))
                s.competitors[name] = round(max(s.unit_cost * 0.9, s.competitors[name] * float(self.rng.normal(1, 0.04))), 2)
                yield CompetitorPrice(SCHEMA_VERSION, self._id("comp"), s.sku, t, name,
                                                           s.competitors[name], bool(self.rng.random() < 0.9))
        while self.deliveries and self.deliveries[0][0] < self.now + STEP_MS:
            due, sku, restock_id, qty = heapq.heappop(self.deliveries)
            yield InventoryEvent(SCHEMA_VERSION, self._id("receipt"), sku, max(due, self.now), "receipt", qty, restock_id)
        self.now += STEP_MS

    def on_decision(self, topic: str, event: dict) -> None:
        s = self.skus.get(event.get("sku"))
        if s is None:
            return
        if topic == "price-changes":
            s.price = event["new_price"]
        elif topic == "restock-orders":
            due = event["event_time_ms"] + int(s.lead_time_days * DAY_MS)
            heapq.heappush(self.deliveries, (due, s.sku, event["restock_id"], event["quantity"]))


BAD_EVENTS = [
    ("clicks", b"DEMO-000", b"{not json"),
    ("orders", b"DEMO-001", b'{"schema_version":1,"event_id":"bad-1","order_id":"o","sku":"DEMO-001",'
                             b'"event_time_ms":1,"quantity":1,"unit_price":-5}'),
    ("competitor-prices", b"NO-SUCH-SKU", b'{"schema_version":1,"event_id":"bad-2","sku":"NO-SUCH-SKU",'
                                          b'"event_time_ms":1,"competitor":"x","price":9.5,"in_stock":true}'),
]


def run_demo(settings: Settings, duration_s: float, skus: int, seed: int, external: bool) -> int:
    from kafka import KafkaConsumer

    from pricestream.lockstep import LockstepProducer

    from pricestream.topics_admin import ensure_topics, reset_topics

    home = settings.home / "demo"
    home.mkdir(parents=True, exist_ok=True)
    settings = settings.replace(app_id=DEMO_APP_ID, status_interval_s=5.0)
    if not external:
        from pricestream.localkafka import LocalBroker
        status = LocalBroker(settings).start()
        settings = settings.replace(bootstrap_servers=status.bootstrap_servers)
        print(f"local Kafka at {status.bootstrap_servers}; resetting the demo's topics")
        reset_topics(settings, app_id=DEMO_APP_ID)
    ensure_topics(settings)

    # the market brings its own ticks, in simulated time, in lockstep with the worker
    settings = settings.replace(clock_interval_s=0.0, commit_interval_s=0.05)
    log_path = home / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "pricestream.cli", "worker"],
                              env={**os.environ, **settings.to_env()}, stdout=open(log_path, "wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    print(f"worker started (pid {worker.pid}, log {log_path}), policy {settings.pricing_policy}")
    producer = LockstepProducer(settings)
    consumer = KafkaConsumer(*OUTPUT_TOPICS, bootstrap_servers=settings.bootstrap_servers,
                             isolation_level="read_committed", auto_offset_reset="latest" if external else "earliest",
                             group_id=None, consumer_timeout_ms=100)
    market = DemoMarket(skus, seed, start_ms=int(time.time() * 1000) // STEP_MS * STEP_MS, run_tag=str(int(time.time())))
    start_ms = market.now
    seen = {t: 0 for t in OUTPUT_TOPICS}


    def drain(timeout_ms: int = 50) -> None:
        for batch in consumer.poll(timeout_ms=timeout_ms).values():
            for msg in batch:
                event = json.loads(msg.value)
                seen[msg.topic] += 1
                market.on_decision(msg.topic, event)
                print(describe(msg.topic, event, start_ms), flush=True)

    try:
        # the catalogue first: events of a SKU the worker has not listed yet would be dead letters
        for record in market.catalogue():
            producer.send_record(record)
        for record in market.stock_counts():
            producer.send_record(record)
        print("catalogue and stock counts sent; waiting for the worker to list the SKUs ...", flush=True)
        producer.tick(market.now + 1000, timeout_s=180)
        drain(500)
        end = time.monotonic() + duration_s
        bad_at = time.monotonic() + duration_s / 3
        while time.monotonic() < end:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode}; see {log_path}")
            started = time.monotonic()
            for record in market.step():
                producer.send_record(record)
            if bad_at and started >= bad_at:
                for topic, key, value in BAD_EVENTS:
                    producer.send_raw(topic, key, value)
                bad_at = 0
            producer.tick(market.now)          # step() moved now to the end of the step
            drain(max(1, int((STEP_WALL_S - (time.monotonic() - started)) * 1000)))
        drain(2000)
        print_summary(seen, settings)
    finally:
        producer.close()
        consumer.close()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
    return 0


def describe(topic: str, e: dict, start_ms: int) -> str:
    elapsed = (e.get("event_time_ms") or start_ms) - start_ms
    when = f"day {elapsed // DAY_MS + 1} {(elapsed % DAY_MS) // 3_600_000:02d}:{(elapsed % 3_600_000) // 60_000:02d}"
    if topic == "price-changes":
        old = "new" if e["old_price"] is None else f"{e['old_price']:.2f}"
        return f"[{when}] PRICE    {e['sku']}  {old} -> {e['new_price']:.2f}  ({', '.join(e['reasons'])})"
    if topic == "restock-orders":
        return (f"[{when}] RESTOCK  {e['sku']}  order {e['quantity']} units  (position {e['inventory_position']:.0f}"
                f" <= reorder point {e['reorder_point']:.0f})")
    return f"[dead letter] {e['source_topic']}: {e['error_code']}: {e['error'][:80]}"


def print_summary(seen: dict, settings: Settings) -> None:
    print("\nsummary: " + ", ".join(f"{n} {t}" for t, n in seen.items()))
    try:
        with urllib.request.urlopen(f"http://{settings.web_host}:{settings.web_port}/status/", timeout=3) as r:
            status = json.load(r)
        print(f"worker status: consumed {status['consumed_total']} events, "
              f"{status['dead_letters_total']} dead letters {status['dead_letters']}")
    except OSError as exc:
        print(f"(worker status page not reachable: {exc})")
