"""The dashboard's state-keeping, without Kafka: messages in, table pages, SKU charts and the feed out."""

from __future__ import annotations

import json
import random

import pytest

from pricestream.dashboard.state import (
    CHANGED_REPORTED, DEAD_LETTERS_KEPT, FEED_LENGTH, OPEN_RESTOCKS_PER_SKU, DashboardState, Timeline,
)
from schemas import examples as ex
from schemas.codec import encode


def feed(state: DashboardState, *records) -> None:
    state.apply_many([(r.TOPIC, r.sku.encode(), encode(r), 0) for r in records])


def output(state: DashboardState, topic: str, **event) -> None:
    state.apply(topic, (event.get("sku") or "").encode(), json.dumps(event).encode(), 0)


def price_change(sku: str, t: int, old: float | None, new: float, reasons=("list-price",), event_id=None) -> dict:
    return {"schema_version": 1, "event_id": event_id or f"pc-{sku}-{t}", "sku": sku, "event_time_ms": t,
            "policy": "static", "old_price": old, "new_price": new, "reasons": list(reasons), "inputs": {},
            "trigger": "catalog", "trigger_event_id": "c"}


def restock(sku: str, t: int, quantity: int, restock_id: str, reorder_point: float = 5.0) -> dict:
    return {"schema_version": 1, "event_id": f"ro-{restock_id}", "restock_id": restock_id, "sku": sku,
            "event_time_ms": t, "policy": "fixed-reorder", "quantity": quantity, "reorder_point": reorder_point,
            "order_up_to": 30.0, "safety_stock": None, "inventory_position": 2.0, "on_hand": 2.0, "on_order": 0.0,
            "lead_time_days_mean": 3.0, "service_level": 0.95, "reasons": ["below-reorder-point"]}


def forecast(sku: str, t: int, observed: int, expected: float, price: float | None = 20.0,
             competitor: float | None = None) -> dict:
    return {"schema_version": 1, "event_id": f"df-{sku}-{t}", "sku": sku, "event_time_ms": t,
            "observed_views": 10 * observed, "observed_units": observed, "price": price,
            "competitor_price": competitor, "expected_views": 10.0, "expected_units": expected, "units_std": 1.0,
            "elasticity": -2.0, "elasticity_sd": 0.5, "cross_elasticity": 0.8, "forecast_model": "seasonal"}


def dead_letter(key: str | None, code: str, offset: int, error: str = "bad") -> dict:
    return {"schema_version": 1, "event_id": f"dl-{offset}", "source_topic": "orders", "partition": 0,
            "offset": offset, "key": key, "error_code": code, "error": error, "raw_payload": "x",
            "raw_payload_encoding": "utf-8", "raw_payload_bytes": 1, "raw_payload_truncated": False,
            "record_timestamp_ms": 1000 + offset}


def test_a_sku_row_brings_price_rival_bounds_demand_and_stock_together():
    state = DashboardState()
    feed(state, ex.catalog_entry(sku="A", unit_cost=10.0, min_price=5.0, max_price=30.0, min_margin=0.2,
                                 reorder_point=5, order_up_to=30))
    feed(state, ex.competitor_price(sku="A", t=10, price=19.0, competitor="x"),
         ex.competitor_price(sku="A", t=10, price=17.5, competitor="y", in_stock=False),   # out of stock: not a rival
         ex.competitor_price(sku="A", t=11, price=18.0, competitor="z"),
         ex.competitor_price(sku="A", t=5, price=1.0, competitor="z"),                     # older: ignored
         ex.inventory(sku="A", t=1, kind="count", quantity=12),
         ex.order(sku="A", t=20, quantity=3), ex.order(sku="A", t=21, quantity=1, event_id="o2"),
         ex.inventory(sku="A", t=22, kind="adjustment", quantity=-2))
    output(state, "price-changes", **price_change("A", 100, 20.0, 18.5))
    output(state, "restock-orders", **restock("A", 100, 24, "r1", reorder_point=6.5))
    output(state, "demand-forecasts", **forecast("A", 100, observed=4, expected=3.5, price=18.5, competitor=18.0))

    [row] = state.page()["rows"]
    assert row["price"] == 18.5 and row["competitor_price"] == 18.0
    assert row["vs_competitor"] == pytest.approx(18.5 / 18.0 - 1)
    assert (row["floor"], row["ceiling"]) == (12.0, 30.0)             # the margin floor binds: 10 x 1.2
    assert (row["observed_units"], row["forecast_units"]) == (4, 3.5)
    assert row["on_hand"] == 12 - 3 - 1 - 2
    assert row["reorder_point"] == 6.5                               # the latest order's, over the catalogue's 5
    assert (row["open_restocks"], row["open_restock_units"]) == (1, 24)
    assert row["last_change_pct"] == pytest.approx(-0.075) and row["last_reasons"] == ["list-price"]

    feed(state, ex.inventory(sku="A", t=300, kind="receipt", quantity=24, restock_id="r1"))
    assert state.page()["rows"][0]["open_restocks"] == 0
    assert state.page()["rows"][0]["on_hand"] == 6 + 24


def test_the_charts_have_one_point_per_period_with_the_forecast_made_for_it():
    state = DashboardState(history_points=8)
    feed(state, ex.catalog_entry(sku="A"), ex.inventory(sku="A", kind="count", quantity=50))
    for period in range(20):
        feed(state, ex.order(sku="A", t=period * 10 + 1, quantity=1))
        output(state, "demand-forecasts", **forecast("A", (period + 1) * 10, observed=period, expected=period + 0.5))
    timeline = state.sku_detail("A")["timeline"]
    assert timeline["t"] == [float((p + 1) * 10) for p in range(12, 20)]            # the last 8 periods
    assert timeline["observed_units"] == [float(p) for p in range(12, 20)]
    assert timeline["forecast_units"] == [p - 1 + 0.5 for p in range(12, 20)]       # forecast one period before
    assert timeline["on_hand"] == [50.0 - (p + 1) for p in range(12, 20)]
    assert timeline["floor"] == [12.0] * 8 and timeline["ceiling"] == [30.0] * 8


def test_a_timeline_stays_bounded_and_keeps_unknowns_as_null():
    timeline = Timeline(capacity=4)
    for i in range(1000):
        timeline.append(t=i, price=None if i % 2 else 1.0)
    assert len(timeline) < 2 * 4                                  # trimmed in chunks, never far above capacity
    assert timeline.to_json()["t"] == [996.0, 997.0, 998.0, 999.0]
    assert timeline.to_json()["price"] == [1.0, None, 1.0, None]


def test_search_sort_and_paging_over_ten_thousand_skus():
    state = DashboardState()
    rng = random.Random(7)
    prices = {}
    for i in range(10_000):
        sku = f"SKU-{i:05d}"
        feed(state, ex.catalog_entry(sku=sku, event_id=f"c{i}"))
        if i % 10:                              # every tenth SKU has no price yet
            prices[sku] = round(rng.uniform(12, 30), 2)
            output(state, "price-changes", **price_change(sku, 1, None, prices[sku]))
    page = state.page(sort="price", descending=True, offset=0, limit=50)
    assert page["total"] == 10_000
    assert [r["price"] for r in page["rows"]] == sorted(prices.values(), reverse=True)[:50]
    last = state.page(sort="price", descending=True, offset=9_990, limit=50)
    assert [r["price"] for r in last["rows"]] == [None] * 10          # unknowns last, either direction
    assert state.page(sort="price", offset=9_990)["rows"][0]["price"] is None
    found = state.page(query="sku-0012")
    assert [r["sku"] for r in found["rows"]] == [f"SKU-0012{d}" for d in range(10)]
    assert state.page(sort="no-such-column")["sort"] == "sku"
    assert len(state.page(limit=10**6)["rows"]) == 500                # a page is capped


def test_feed_and_dead_letters_are_newest_first_and_capped():
    state = DashboardState()
    feed(state, ex.catalog_entry(sku="A"))
    for i in range(FEED_LENGTH + 30):
        output(state, "price-changes", **price_change("A", i, 20.0, 20.0 + i % 3))
    summary = state.summary(feed_items=FEED_LENGTH)
    assert len(summary["feed"]) == FEED_LENGTH and summary["feed"][0]["event_time_ms"] == FEED_LENGTH + 29
    assert summary["price_changes"] == FEED_LENGTH + 30
    codes = ["malformed-json", "schema-violation", "malformed-json"]
    for offset in range(DEAD_LETTERS_KEPT + 20):
        key = "A" if offset % 2 else f"unknown-{offset}"
        output(state, "dead-letter", **dead_letter(key, codes[offset % 3], offset))
    letters = state.summary()["dead_letters"]
    assert letters["total"] == DEAD_LETTERS_KEPT + 20
    assert letters["by_code"] == {"malformed-json": 47, "schema-violation": 23}
    assert [d["offset"] for d in letters["latest"]] == list(range(DEAD_LETTERS_KEPT + 19, DEAD_LETTERS_KEPT + 9, -1))
    assert len(state.dead_letters) == DEAD_LETTERS_KEPT
    assert state.page()["rows"][0]["dead_letters"] == 35               # the catalogued key's own letters
    assert len(state.skus) == 1                                        # a dead letter's key makes no view


def test_bad_messages_are_counted_not_raised_and_unknown_skus_make_no_view():
    state = DashboardState()
    state.apply("price-changes", b"A", b"{not json", 0)
    state.apply("demand-forecasts", b"A", None, 0)
    state.apply("orders", b"A", b"\xff\xfe", 0)                      # the worker dead-letters it; nothing here
    state.apply("restock-orders", b"A", json.dumps({"sku": "A"}).encode(), 0)
    feed(state, ex.order(sku="NOT-LISTED"), ex.inventory(sku="NOT-LISTED", kind="count", quantity=3))
    output(state, "demand-forecasts", **forecast("NOT-LISTED", 10, 1, 1.0))
    assert state.unreadable == {"price-changes": 1, "demand-forecasts": 1, "restock-orders": 1}
    assert state.skus == {}
    state.apply("some-other-topic", b"A", b"{}", 0)                   # not a topic the dashboard reads
    assert "some-other-topic" not in state.read


def test_a_delisted_sku_goes_and_its_late_decisions_make_no_view():
    state = DashboardState()
    feed(state, ex.catalog_entry(sku="A"), ex.catalog_entry(sku="B"))
    state.apply("catalog", b"A", None, 0)                             # tombstone
    output(state, "demand-forecasts", **forecast("A", 10, 1, 1.0))
    output(state, "price-changes", **price_change("A", 10, None, 20.0))
    assert sorted(state.skus) == ["B"]
    assert state.summary()["feed"][0]["sku"] == "A"                   # the decision still shows in the feed


def test_a_batch_applies_catalogue_entries_before_the_events_they_list():
    state = DashboardState()
    entry = ex.catalog_entry(sku="A")
    count = ex.inventory(sku="A", kind="count", quantity=7)
    state.apply_many([(count.TOPIC, b"A", encode(count), 0), (entry.TOPIC, b"A", encode(entry), 0)])
    assert state.page()["rows"][0]["on_hand"] == 7


def test_open_restocks_per_sku_are_capped_oldest_first():
    state = DashboardState()
    feed(state, ex.catalog_entry(sku="A"))
    for i in range(OPEN_RESTOCKS_PER_SKU + 5):
        output(state, "restock-orders", **restock("A", i, 1, f"r{i}"))
    detail = state.sku_detail("A")
    assert detail["open_restocks"] == OPEN_RESTOCKS_PER_SKU
    assert detail["open_restock_orders"][0]["restock_id"] == "r5"


def test_changes_name_the_skus_once_and_overflow_says_many():
    state = DashboardState()
    feed(state, ex.catalog_entry(sku="A"), ex.catalog_entry(sku="B"))
    output(state, "price-changes", **price_change("B", 1, None, 20.0))
    assert state.take_changes() == (["A", "B"], False)
    assert state.take_changes() == ([], False)
    for i in range(CHANGED_REPORTED + 1):
        feed(state, ex.catalog_entry(sku=f"S{i}", event_id=f"c{i}"))
    changed, many = state.take_changes()
    assert len(changed) == CHANGED_REPORTED and many
