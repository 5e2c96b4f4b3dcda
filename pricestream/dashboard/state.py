"""What the dashboard knows: per-SKU views built from the topics it reads, the decision feed, dead letters.

Pure: no Kafka, no web server. The reader hands it messages (topic, key, value, Kafka timestamp) and the
server asks it for table pages, one SKU's charts and the summary. Memory is bounded by the catalogue:
a SKU gets a view when its catalogue entry arrives and loses it when delisted; every per-SKU history,
the feed and the dead-letter list are capped.

The stock shown is the dashboard's own count from ``inventory`` and ``orders`` (a count sets it, receipts,
adjustments and orders move it) sampled at each period end; the worker keeps the exact figure in its state.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

import orjson

from pricestream.domain.guardrails import hard_bounds
from schemas.codec import Delisting, Rejection, decode
from schemas.records import CatalogEntry, CompetitorPrice, InventoryEvent, Order

HISTORY_POINTS = 96            # periods kept per SKU for its charts
FEED_LENGTH = 200              # latest price changes and restock orders
DEAD_LETTERS_KEPT = 50         # latest dead letters, with their reasons
OPEN_RESTOCKS_PER_SKU = 32     # an order whose receipt never comes must not grow a SKU's view forever
COMPETITORS_PER_SKU = 32
CHANGED_REPORTED = 500         # beyond this many changed SKUs, an update says "many" instead of naming them

# one row per period end (a demand-forecasts event), the columns of a SKU's three charts
TIMELINE_COLUMNS = ("t", "price", "competitor_price", "floor", "ceiling", "observed_units", "forecast_units",
                    "on_hand", "reorder_point")

TOPICS_READ = ("catalog", "competitor-prices", "inventory", "orders",
               "price-changes", "restock-orders", "demand-forecasts", "dead-letter")


class Timeline:
    """Fixed columns of floats (NaN: unknown), the last ``capacity`` rows: compact for 10,000 SKUs."""

    __slots__ = ("capacity", "columns")

    def __init__(self, capacity: int = HISTORY_POINTS):
        self.capacity = capacity
        self.columns = {name: array("d") for name in TIMELINE_COLUMNS}

    def append(self, **values: float | None) -> None:
        for name, column in self.columns.items():
            value = values.get(name)
            column.append(math.nan if value is None else float(value))
        excess = len(self) - self.capacity
        if excess >= max(1, self.capacity // 4):         # trim in chunks: deleting from the front is O(n)
            for column in self.columns.values():
                del column[:excess]

    def __len__(self) -> int:
        return len(self.columns["t"])

    def to_json(self) -> dict[str, list]:
        start = max(0, len(self) - self.capacity)
        return {name: [None if math.isnan(v) else v for v in column[start:]] for name, column in self.columns.items()}


@dataclass(slots=True)
class SkuView:
    sku: str
    floor: float | None = None
    floor_rule: str | None = None
    ceiling: float | None = None
    list_price: float | None = None
    unit_cost: float | None = None
    catalog_reorder_point: float | None = None
    restock_enabled: bool | None = None
    price: float | None = None
    policy: str | None = None
    last_change_ms: int | None = None
    last_change_pct: float | None = None
    last_reasons: tuple[str, ...] = ()
    competitors: dict[str, tuple[int, float, bool]] = field(default_factory=dict)   # name -> (time, price, in stock)
    observed_units: int | None = None
    forecast_units: float | None = None         # forecast for the next period
    forecast_for_last: float | None = None      # what was forecast for the period just closed
    elasticity: float | None = None
    elasticity_sd: float | None = None
    on_hand: float | None = None                # unknown until the first count or receipt
    open_restocks: dict[str, int] = field(default_factory=dict)   # restock_id -> units
    order_reorder_point: float | None = None    # the latest restock order's reorder point
    dead_letters: int = 0
    timeline: Timeline = field(default_factory=Timeline)
    restocks: deque = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))   # (time, units, reorder point)

    @property
    def competitor_price(self) -> float | None:
        """The cheapest in-stock competitor's latest price."""
        in_stock = [price for _, price, available in self.competitors.values() if available]
        return min(in_stock) if in_stock else None

    @property
    def reorder_point(self) -> float | None:
        return self.order_reorder_point if self.order_reorder_point is not None else self.catalog_reorder_point

    @property
    def open_restock_units(self) -> int:
        return sum(self.open_restocks.values())

    def row(self) -> dict:
        competitor = self.competitor_price
        return {
            "sku": self.sku, "price": self.price, "competitor_price": competitor,
            "vs_competitor": _vs_competitor(self),
            "floor": self.floor, "ceiling": self.ceiling, "forecast_units": self.forecast_units,
            "observed_units": self.observed_units, "on_hand": self.on_hand, "reorder_point": self.reorder_point,
            "open_restocks": len(self.open_restocks), "open_restock_units": self.open_restock_units,
            "last_change_ms": self.last_change_ms, "last_change_pct": self.last_change_pct,
            "last_reasons": list(self.last_reasons), "policy": self.policy, "dead_letters": self.dead_letters,
        }

    def detail(self) -> dict:
        return {
            **self.row(), "list_price": self.list_price, "unit_cost": self.unit_cost, "floor_rule": self.floor_rule,
            "restock_enabled": self.restock_enabled, "elasticity": self.elasticity,
            "elasticity_sd": self.elasticity_sd,
            "competitors": [{"competitor": name, "event_time_ms": t, "price": price, "in_stock": available}
                            for name, (t, price, available) in sorted(self.competitors.items())],
            "open_restock_orders": [{"restock_id": rid, "quantity": q} for rid, q in self.open_restocks.items()],
            "timeline": self.timeline.to_json(),
            "restock_orders": [{"t": t, "quantity": q, "reorder_point": r} for t, q, r in self.restocks],
        }


def _vs_competitor(view: SkuView) -> float | None:
    competitor = view.competitor_price
    return view.price / competitor - 1 if view.price and competitor else None


SORT_VALUES: dict[str, Callable[[SkuView], object]] = {
    "sku": lambda v: v.sku, "price": lambda v: v.price, "competitor_price": lambda v: v.competitor_price,
    "vs_competitor": _vs_competitor, "floor": lambda v: v.floor, "ceiling": lambda v: v.ceiling,
    "forecast_units": lambda v: v.forecast_units, "observed_units": lambda v: v.observed_units,
    "on_hand": lambda v: v.on_hand, "reorder_point": lambda v: v.reorder_point,
    "open_restock_units": lambda v: v.open_restock_units, "last_change_ms": lambda v: v.last_change_ms,
    "dead_letters": lambda v: v.dead_letters,
}


class DashboardState:
    """Everything the page shows, updated one message at a time; never raises on a bad message."""

    def __init__(self, max_payload_bytes: int = 65536, history_points: int = HISTORY_POINTS):
        self.max_payload_bytes = max_payload_bytes
        self.history_points = history_points
        self.skus: dict[str, SkuView] = {}
        self.feed: deque[dict] = deque(maxlen=FEED_LENGTH)
        self.dead_letters: deque[dict] = deque(maxlen=DEAD_LETTERS_KEPT)
        self.dead_letter_codes: Counter[str] = Counter()
        self.read: Counter[str] = Counter()            # messages read per topic
        self.unreadable: Counter[str] = Counter()      # messages of a topic the dashboard could not use
        self.version = 0
        self._changed: set[str] = set()
        self._changed_overflow = False
        self._handlers: dict[str, Callable[[str, bytes | None, bytes | None, int | None], None]] = {
            "catalog": self._input, "competitor-prices": self._input, "inventory": self._input,
            "orders": self._input, "price-changes": self._price_change, "restock-orders": self._restock_order,
            "demand-forecasts": self._forecast, "dead-letter": self._dead_letter,
        }

    # -- reading ----------------------------------------------------------------------------------

    def apply(self, topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int | None = None) -> None:
        """One message of a contract topic (name without the deployment prefix)."""
        handler = self._handlers.get(topic)
        if handler is None:
            return
        self.read[topic] += 1
        try:
            handler(topic, key, value, timestamp_ms)
        except Exception:            # a record the worker would not write, or a bug: count it, carry on
            self.unreadable[topic] += 1

    def apply_many(self, messages: Iterable[tuple[str, bytes | None, bytes | None, int | None]]) -> None:
        """A batch of messages; its catalogue entries first, since the events about a SKU follow its entry
        (a batch of several partitions is not in the order they were written)."""
        messages = list(messages)
        for topic, key, value, timestamp_ms in messages:
            if topic == "catalog":
                self.apply(topic, key, value, timestamp_ms)
        for topic, key, value, timestamp_ms in messages:
            if topic != "catalog":
                self.apply(topic, key, value, timestamp_ms)

    def _touch(self, sku: str) -> None:
        """Something about ``sku`` changed: the next update names it, so pages showing it refresh."""
        self.version += 1
        if len(self._changed) < CHANGED_REPORTED:
            self._changed.add(sku)
        else:
            self._changed_overflow = True

    def _view(self, sku: str) -> SkuView:
        view = self.skus.get(sku)
        if view is None:
            view = self.skus[sku] = SkuView(sku, timeline=Timeline(self.history_points))
        return view

    def _input(self, topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int | None) -> None:
        record = decode(topic, key, value, self.max_payload_bytes)
        if isinstance(record, Rejection):
            return                  # the worker dead-letters it; the dead-letter topic tells the page
        if isinstance(record, Delisting):
            if self.skus.pop(record.sku, None) is not None:
                self._touch(record.sku)
            return
        if isinstance(record, CatalogEntry):
            view = self._view(record.sku)
            bounds = hard_bounds(record)
            view.floor, view.floor_rule, view.ceiling = bounds.low, bounds.low_rule, bounds.high
            view.list_price, view.unit_cost = record.list_price, record.unit_cost
            view.catalog_reorder_point = record.reorder_point
            view.restock_enabled = record.restock_enabled
            self._touch(record.sku)
            return
        view = self.skus.get(record.sku)
        if view is None:
            return                  # not in the catalogue (yet): the worker holds or dead-letters it
        if isinstance(record, CompetitorPrice):
            known = view.competitors.get(record.competitor)
            if known is None and len(view.competitors) >= COMPETITORS_PER_SKU:
                return
            # as the worker: the latest observation by event time wins (ties: the lower price)
            if known is None or (record.event_time_ms, -record.price) >= (known[0], -known[1]):
                view.competitors[record.competitor] = (record.event_time_ms, record.price, record.in_stock)
        elif isinstance(record, Order):
            if view.on_hand is not None:
                view.on_hand -= record.quantity
        elif isinstance(record, InventoryEvent):
            if record.kind == "count":
                view.on_hand = float(record.quantity)
            else:
                view.on_hand = (view.on_hand or 0.0) + record.quantity
            if record.kind == "receipt" and record.restock_id:
                view.open_restocks.pop(record.restock_id, None)
        self._touch(record.sku)

    def _price_change(self, topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int | None) -> None:
        event = orjson.loads(value)
        sku, old, new = str(event["sku"]), event.get("old_price"), float(event["new_price"])
        reasons = [str(r) for r in event.get("reasons") or ()]
        segment = event.get("segment")
        self.feed.appendleft({"kind": "price-change", "event_id": event.get("event_id"), "sku": sku,
                              "segment": segment, "event_time_ms": event["event_time_ms"], "old_price": old,
                              "new_price": new, "policy": event.get("policy"), "reasons": reasons})
        view = self.skus.get(sku)       # only catalogued SKUs have a view (a delisted one's old decisions may follow)
        if view is not None:
            if segment is None:         # a segmented SKU's price is the blend its forecasts carry
                view.price = new
            view.policy = event.get("policy")
            view.last_change_ms = event["event_time_ms"]
            view.last_change_pct = (new / old - 1) if old else None
            view.last_reasons = tuple(reasons)
        self._touch(sku)

    def _restock_order(self, topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int | None) -> None:
        event = orjson.loads(value)
        sku, quantity, reorder_point = str(event["sku"]), int(event["quantity"]), float(event["reorder_point"])
        self.feed.appendleft({"kind": "restock-order", "event_id": event.get("event_id"), "sku": sku,
                              "event_time_ms": event["event_time_ms"], "quantity": quantity,
                              "inventory_position": event.get("inventory_position"),
                              "reorder_point": reorder_point, "policy": event.get("policy"),
                              "reasons": [str(r) for r in event.get("reasons") or ()]})
        view = self.skus.get(sku)
        if view is not None:
            restock_id = str(event["restock_id"])
            if restock_id not in view.open_restocks and len(view.open_restocks) >= OPEN_RESTOCKS_PER_SKU:
                view.open_restocks.pop(next(iter(view.open_restocks)))       # the oldest gives way
            view.open_restocks[restock_id] = quantity
            view.order_reorder_point = reorder_point
            view.restocks.append((event["event_time_ms"], quantity, reorder_point))
        self._touch(sku)

    def _forecast(self, topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int | None) -> None:
        event = orjson.loads(value)
        view = self.skus.get(str(event["sku"]))
        if view is None:
            return
        view.forecast_for_last, view.forecast_units = view.forecast_units, float(event["expected_units"])
        view.observed_units = int(event["observed_units"])
        view.elasticity, view.elasticity_sd = event.get("elasticity"), event.get("elasticity_sd")
        if event.get("price") is not None:
            view.price = float(event["price"])
        view.timeline.append(t=event["event_time_ms"], price=event.get("price"),
                             competitor_price=event.get("competitor_price"), floor=view.floor, ceiling=view.ceiling,
                             observed_units=view.observed_units, forecast_units=view.forecast_for_last,
                             on_hand=view.on_hand, reorder_point=view.reorder_point)
        self._touch(view.sku)

    def _dead_letter(self, topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int | None) -> None:
        event = orjson.loads(value)
        code = str(event["error_code"])
        self.dead_letter_codes[code] += 1
        letter_key = event.get("key")
        self.dead_letters.appendleft({
            "event_id": event.get("event_id"), "key": letter_key, "source_topic": event.get("source_topic"),
            "partition": event.get("partition"), "offset": event.get("offset"), "error_code": code,
            "error": str(event.get("error", ""))[:512],
            "record_timestamp_ms": event.get("record_timestamp_ms") or timestamp_ms})
        view = self.skus.get(letter_key) if isinstance(letter_key, str) else None
        if view is not None:
            view.dead_letters += 1
            self._touch(view.sku)
        else:
            self.version += 1

    # -- asking -----------------------------------------------------------------------------------

    def page(self, query: str = "", sort: str = "sku", descending: bool = False, offset: int = 0,
             limit: int = 50) -> dict:
        """One page of the SKU table: SKUs whose name contains ``query`` (any case), sorted by ``sort``;
        unknown values sort last either way."""
        if sort not in SORT_VALUES:
            sort = "sku"
        needle = query.strip().lower()
        views = [v for v in self.skus.values() if needle in v.sku.lower()] if needle else list(self.skus.values())
        value = SORT_VALUES[sort]           # sort on the views; only the page's rows are built
        keyed = [(value(v), v.sku, v) for v in views]
        known = [k for k in keyed if k[0] is not None]
        unknown = sorted((k for k in keyed if k[0] is None), key=lambda k: k[1])
        known.sort(key=lambda k: (k[0], k[1]), reverse=descending)
        ordered = known + unknown
        offset = max(0, offset)
        limit = min(max(1, limit), 500)
        return {"total": len(ordered), "offset": offset, "limit": limit, "sort": sort, "descending": descending,
                "rows": [v.row() for _, _, v in ordered[offset:offset + limit]]}

    def sku_detail(self, sku: str) -> dict | None:
        view = self.skus.get(sku)
        return None if view is None else view.detail()

    def take_changes(self) -> tuple[list[str], bool]:
        """The SKUs changed since the last call (sorted), and whether more changed than are named."""
        changed, overflow = sorted(self._changed), self._changed_overflow
        self._changed, self._changed_overflow = set(), False
        return changed, overflow

    def summary(self, feed_items: int = 50) -> dict:
        return {
            "version": self.version, "skus": len(self.skus),
            "price_changes": self.read["price-changes"], "restock_orders": self.read["restock-orders"],
            "dead_letters": {"total": sum(self.dead_letter_codes.values()),
                             "by_code": dict(self.dead_letter_codes.most_common()),
                             "latest": list(self.dead_letters)[:10]},
            "feed": list(self.feed)[:feed_items],
            "read": dict(self.read), "unreadable": dict(self.unreadable),
        }
