"""``pricestream fuzz-test``: hostile input on the real broker.

A scenario runs through Kafka in lockstep (as ``simulate --kafka`` runs it) and, mixed in with each
period's valid events, thousands of malformed or adversarial ones are written to the input topics:
wrong types, missing and extra fields, huge strings and numbers, NaN and Infinity, negative quantities
and prices, unknown SKUs, event times far in the past or future, stale and misplaced ticks, invalid
UTF-8, oversized messages, keys that are missing or wrong, and retried (duplicated) orders and stock
movements. Each bad event is built to fail one rule, so its expected ``error_code`` is known when it is
written; its (topic, partition, offset) then identifies its dead letter.

It passes when every bad event has exactly one dead letter with the expected code and nothing else
was dead-lettered, every duplicate was ignored and counted on the worker's status page, the worker is
the process that started (same pid, no crash in its log) and consumed everything, and the committed
price changes, restock orders and forecasts equal, byte for byte, those of a run of the same scenario
with only the valid events (the offline shell's, as ``crash-test`` compares).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections import Counter
from typing import Callable

import orjson
from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings as hypothesis_settings
from hypothesis import strategies as st

from pricestream.crash_test import compare, harness_scenario, log_to_stderr, reference_run
from pricestream.kafka_clients import read_committed
from pricestream.domain.demand_model import DAY_MS
from pricestream.settings import Settings
from pricestream.simulator.kafka_shell import KafkaDriver, end_session, session_settings, worker_log_path
from pricestream.simulator.run import simulate
from pricestream.simulator.scenario import Scenario
from pricestream.worker_process import start_worker
from schemas import examples
from schemas.codec import encode, to_dict
from schemas.jsonschema_gen import record_schema
from schemas.records import (
    INPUT_RECORDS, MAX_PRICE, MAX_QUANTITY, SCHEMA_VERSION, CatalogEntry, Click, CompetitorPrice, InventoryEvent,
    ModelPrior, Order, Tick,
)

_SCHEMAS = {r.TOPIC: record_schema(r) for r in INPUT_RECORDS}
MAX_TIME_MS = _SCHEMAS[Click.TOPIC]["properties"]["event_time_ms"]["maximum"]     # the contracts' (year 3000)
# topics whose null value is a tombstone and where Kafka refuses a message without a key
COMPACTED = (CatalogEntry.TOPIC, ModelPrior.TOPIC)
FLOW_TOPICS = (Click.TOPIC, Order.TOPIC, CompetitorPrice.TOPIC, InventoryEvent.TOPIC)
SKU_TOPICS = FLOW_TOPICS + COMPACTED
RETRYABLE = (Order.TOPIC, InventoryEvent.TOPIC)      # the topics whose repeated ids the engine ignores
RETRY_PERIODS = 3
PRICE_FIELDS = ("unit_price", "price", "unit_cost", "list_price", "min_price", "max_price", "reference_price")
# byte sequences that are never UTF-8: a lone continuation byte, overlong forms, bytes UTF-8 never uses,
# a cut multi-byte character, an encoded surrogate
INVALID_UTF8 = (b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xf5\x80\x80\x80", b"\xfe", b"\xff",
                b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f\x98")

# every kind of bad event, with the error code it is built to get (None: the code depends on the field or
# the kind of stock movement; a duplicate gets none: a retry is ignored and counted)
CATEGORIES = {
    "wrong-type": "schema-violation",
    "missing-field": "schema-violation",
    "extra-field": "schema-violation",
    "huge-string": "schema-violation",
    "huge-number": None,                    # absurd-quantity or schema-violation, by field
    "number-overflow": "non-finite-number",
    "nan-or-infinity": "non-finite-number",
    "negative-quantity": None,              # absurd-quantity or invalid-quantity, by topic and kind
    "non-positive-price": "non-positive-price",
    "unknown-sku": "unknown-sku",
    "time-far-away": "event-time-out-of-range",
    "time-outside-contract": "schema-violation",
    "invalid-utf8": "invalid-utf8",
    "oversized": "payload-too-large",
    "truncated-json": "malformed-json",
    "not-an-object": "not-an-object",
    "empty-payload": "empty-payload",
    "schema-version": "unsupported-schema-version",
    "missing-key": "missing-key",
    "key-mismatch": "key-mismatch",
    "inconsistent-catalog": "inconsistent-catalog",
    "tick-wrong-partition": "wrong-partition",
    "stale-tick": "stale-tick",
    "duplicate": None,
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One bad event, drawn before the run: what is wrong with it and where it goes. The valid event it
    is made from (a SKU and a time of the period it lands in) is only known when that period is played."""
    category: str
    topic: str
    period_u: float         # which period, as a fraction of the periods after the first tick
    position_u: float       # where among the period's events
    pick_u: float           # which valid event it is made from, which field it breaks
    params: tuple           # (name, value) pairs, category-specific

    def param(self, name: str):
        return dict(self.params)[name]


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)      # orjson writes no surrogates
_json_ints = st.integers(-2**63, 2**63 - 1)                                     # nor integers beyond 64 bits
_wrong_values = st.fixed_dictionaries({
    "string": _text, "number": st.integers(-10**6, 10**6) | st.floats(-1e6, 1e6, allow_nan=False),
    "bool": st.booleans(), "list": st.lists(_json_ints, max_size=3),
    "object": st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), max_size=5), _json_ints, max_size=2),
    "order": st.permutations(["string", "number", "bool", "list", "object", "null"]),
})
_sku_suffix = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)


@functools.cache
def _params(category: str) -> st.SearchStrategy[dict]:
    """The category-specific choices, drawn by hypothesis (built once: building strategies is slow)."""
    u = st.floats(0, 1, exclude_max=True)
    return {
        "wrong-type": st.fixed_dictionaries({"wrong": _wrong_values}),
        "missing-field": st.just({}),
        "extra-field": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=30), "value": _text}),
        "huge-string": st.fixed_dictionaries({"length": st.integers(129, 60_000),
                                              "field": st.sampled_from(["event_id", "sku", "id"])}),
        "huge-number": st.fixed_dictionaries({"excess": st.integers(1, 10**18),
                                              "field": st.sampled_from(["quantity", "price", "time"])}),
        "number-overflow": st.fixed_dictionaries({"digits": st.integers(310, 5_000), "negative": st.booleans()}),
        "nan-or-infinity": st.fixed_dictionaries({"token": st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400",
                                                                            "-1e999"])}),
        "negative-quantity": st.fixed_dictionaries({"quantity": st.integers(-2 * MAX_QUANTITY, 0),
                                                    "kind": st.sampled_from(["order", "receipt", "count",
                                                                             "adjustment"])}),
        "non-positive-price": st.fixed_dictionaries({"price": st.just(0.0) | st.floats(-1e12, 0, allow_nan=False)}),
        "unknown-sku": st.fixed_dictionaries({"suffix": _sku_suffix}),
        "time-far-away": st.fixed_dictionaries({"days": st.integers(8, 300_000), "future": st.booleans()}),
        "time-outside-contract": st.fixed_dictionaries({"time": st.integers(-10**15, -1)
                                                        | st.integers(MAX_TIME_MS + 1, 10**18)}),
        "invalid-utf8": st.fixed_dictionaries({"bytes": st.sampled_from(INVALID_UTF8), "where": u}),
        "oversized": st.fixed_dictionaries({"excess": st.integers(1, 40_000), "padding": st.booleans()}),
        "truncated-json": st.fixed_dictionaries({"cut": u}),
        "not-an-object": st.fixed_dictionaries({"value": st.sampled_from(["array", "string", "number", "true",
                                                                          "false", "null"])}),
        "empty-payload": st.fixed_dictionaries({"null": st.booleans()}),
        "schema-version": st.fixed_dictionaries({"version": st.sampled_from([0, 2, -1, 99, "1", None, 1.5,
                                                                             "missing"])}),
        "missing-key": st.just({}),
        "key-mismatch": st.fixed_dictionaries({"key": st.binary(min_size=1, max_size=80)}),
        "inconsistent-catalog": st.fixed_dictionaries({"rule": st.sampled_from(["min-above-max", "margin", "s>=S",
                                                                                "s-without-S"]),
                                                       "gap": st.integers(0, 1000)}),
        "tick-wrong-partition": st.fixed_dictionaries({"shift": st.integers(1, 1000)}),
        "stale-tick": st.fixed_dictionaries({"back_ms": st.integers(1, 10**12)}),
        "duplicate": st.just({}),
    }[category]


def _topics(category: str) -> list[str]:
    if category in ("tick-wrong-partition", "stale-tick"):
        return [Tick.TOPIC]
    if category in ("unknown-sku", "duplicate", "time-far-away"):
        return {"unknown-sku": list(FLOW_TOPICS), "duplicate": [Order.TOPIC, InventoryEvent.TOPIC],
                "time-far-away": list(SKU_TOPICS)}[category]
    if category in ("negative-quantity",):
        return [Order.TOPIC]            # the kind param picks inventory kinds
    if category == "non-positive-price":
        return [Order.TOPIC, CompetitorPrice.TOPIC, CatalogEntry.TOPIC, ModelPrior.TOPIC]
    if category == "inconsistent-catalog":
        return [CatalogEntry.TOPIC]
    if category in ("empty-payload", "missing-key"):
        return list(FLOW_TOPICS)        # on a compacted topic a null is a tombstone; a keyless message is refused
    return list(SKU_TOPICS)


@st.composite
def recipes(draw) -> Recipe:
    category = draw(st.sampled_from(sorted(CATEGORIES)))
    u = st.floats(0, 1, exclude_max=True)
    return Recipe(category, draw(st.sampled_from(_topics(category))), draw(u), draw(u), draw(u),
                  tuple(sorted(draw(_params(category)).items())))


def draw_recipes(count: int, seed: int, batch: int = 10) -> list[Recipe]:
    """``count`` recipes, the same ones for the same seed (and Hypothesis version).

    Hypothesis is used as a generator, not as a test runner: a ``@given`` collector, run with a fixed
    ``@seed``, no example database (nothing from earlier runs is replayed) and only the generate phase
    (no shrinking: nothing fails inside), appends every batch it is handed. Its strategies reach the
    edges (empty and maximal sizes, boundary numbers) more often than uniform draws would. Batches of
    ``batch`` spread its per-example overhead; it may stop before ``max_examples`` when it sees repeats,
    so the collector runs again, with the next seed, until there are enough.
    """
    collected: list[Recipe] = []
    for round_ in range(1000):
        if len(collected) >= count:
            break

        @hypothesis_settings(database=None, max_examples=-(-(count - len(collected)) // batch),
                             phases=[Phase.generate], deadline=None, suppress_health_check=list(HealthCheck))
        @hypothesis_seed(seed * 1000 + round_)
        @given(st.lists(recipes(), min_size=batch, max_size=batch,
                        unique_by=lambda r: (r.period_u, r.position_u, r.pick_u)))     # lists like repeats
        def collect(drawn: list[Recipe]) -> None:
            collected.extend(drawn)

        collect()
    return collected[:count]


@dataclasses.dataclass(frozen=True)
class BadEvent:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None           # None: by key, as Kafka's default partitioner does
    expected: str | None            # its error code; None for a retried event (ignored, not dead-lettered)
    category: str


@dataclasses.dataclass
class PeriodContext:
    """What a recipe needs of the period it lands in."""
    events: list                    # the period's valid events
    skus: list[str]                 # every SKU of the scenario
    last_tick_ms: int               # the tick that ended the previous period
    partitions: int
    serial: int = 0
    # orders and stock movements of the last few periods: a retry may come a period or two late (well
    # inside the engine's memory of recent ids per SKU)
    earlier_retryable: list = dataclasses.field(default_factory=list)

    def next_id(self) -> str:
        self.serial += 1
        return f"fuzz-{self.serial}"


def _base(topic: str, sku: str, t: int, event_id: str) -> dict:
    """A valid event of ``topic``, as a dict, that a recipe then breaks."""
    record = {
        Click.TOPIC: lambda: examples.click(sku, t, event_id),
        Order.TOPIC: lambda: examples.order(sku, t, quantity=2, unit_price=19.5, event_id=event_id),
        CompetitorPrice.TOPIC: lambda: examples.competitor_price(sku, t, price=18.25, competitor="fuzz-rival",
                                                                 event_id=event_id),
        InventoryEvent.TOPIC: lambda: examples.inventory(sku, t, kind="receipt", quantity=5, event_id=event_id),
        CatalogEntry.TOPIC: lambda: examples.catalog_entry(sku, event_id=event_id, event_time_ms=t,
                                                           map_price=13.0, reorder_point=5, order_up_to=50),
        ModelPrior.TOPIC: lambda: dataclasses.replace(examples.model_prior(sku, t), event_id=event_id),
    }[topic]()
    return to_dict(record)


def _dumps(data) -> bytes:
    return orjson.dumps(data)


def _splice(data: dict, field: str, raw: bytes) -> bytes:
    """``data`` as JSON with ``field``'s value replaced by ``raw`` bytes (JSON that orjson cannot write)."""
    marker = "\u0000fuzz-marker\u0000"
    return _dumps({**data, field: marker}).replace(_dumps(marker), raw)


def _wrong_value(value, wrong: dict, nullable: bool):
    """A value of another JSON type than ``value``'s."""
    kind = ("bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float))
            else "string" if isinstance(value, str) else "list" if isinstance(value, list) else "object")
    for candidate in wrong["order"]:
        if candidate == kind or (candidate == "null" and nullable):
            continue
        return None if candidate == "null" else wrong[candidate]
    raise AssertionError("unreachable: six kinds, at most two excluded")


def _nullable(topic: str, field: str) -> bool:
    kind = _SCHEMAS[topic]["properties"][field].get("type")
    return isinstance(kind, list) and "null" in kind


def materialise(recipe: Recipe, ctx: PeriodContext) -> BadEvent | None:
    """The bad event of ``recipe`` in this period, or None when the period has no event to make it from
    (a retry needs an order or stock movement of the period)."""
    cat, topic = recipe.category, recipe.topic
    pick = lambda items: items[int(recipe.pick_u * len(items))]     # noqa: E731
    template = pick(ctx.events) if ctx.events else None
    sku = template.sku if template is not None and hasattr(template, "sku") else pick(ctx.skus)
    t = ctx.last_tick_ms + 1 + int(recipe.position_u * 1000)
    data = _base(topic, sku, t, ctx.next_id()) if topic != Tick.TOPIC else {}
    key = sku.encode()
    bad = lambda value, code, key=key, partition=None: BadEvent(topic, key, value, partition, code, cat)  # noqa: E731

    if cat == "duplicate":     # not bad: a producer's retry, which the engine must ignore (and count)
        retried = ([e for e in ctx.events if e.TOPIC == topic]
                   or [e for e in ctx.events if e.TOPIC in RETRYABLE] or ctx.earlier_retryable)
        if not retried:
            return None
        original = pick(retried)
        return BadEvent(original.TOPIC, original.sku.encode(), encode(original), None, None, cat)
    if cat in ("tick-wrong-partition", "stale-tick"):
        partition = int(recipe.pick_u * ctx.partitions)
        if cat == "stale-tick":
            tick_time = max(0, ctx.last_tick_ms - recipe.param("back_ms"))
            tick = Tick(SCHEMA_VERSION, ctx.next_id(), partition, tick_time)
            return bad(_dumps(tick), "stale-tick", str(partition).encode(), partition)
        written_to = (partition + recipe.param("shift")) % ctx.partitions
        if written_to == partition:
            written_to = (partition + 1) % ctx.partitions
        tick = Tick(SCHEMA_VERSION, ctx.next_id(), partition, ctx.last_tick_ms + 1)
        return bad(_dumps(tick), "wrong-partition", str(written_to).encode(), written_to)

    breakable = [f for f, v in data.items() if f != "schema_version" and v is not None]
    if cat == "wrong-type":
        name = pick(breakable)
        data[name] = _wrong_value(data[name], recipe.param("wrong"), _nullable(topic, name))
        return bad(_dumps(data), "schema-violation")
    if cat == "missing-field":
        required = [f for f in _SCHEMAS[topic]["required"] if f != "schema_version"]
        del data[pick(required)]
        return bad(_dumps(data), "schema-violation")
    if cat == "extra-field":
        name = recipe.param("name")
        if name in data:
            name = f"{name}-extra"
        data[name] = recipe.param("value")
        return bad(_dumps(data), "schema-violation")
    if cat == "huge-string":
        filler = "x" * recipe.param("length")
        field = recipe.param("field")
        if field == "sku":
            data["sku"] = sku + filler[: max(65 - len(sku), recipe.param("length") - len(sku))]
            key = data["sku"].encode()
        elif field == "event_id" or topic not in (Order.TOPIC, CompetitorPrice.TOPIC, ModelPrior.TOPIC):
            data["event_id"] = filler
        else:
            data[{"orders": "order_id", "competitor-prices": "competitor", "model-priors": "source"}[topic]] = \
                filler if topic != "model-priors" else "x" * max(257, recipe.param("length"))
        return bad(_dumps(data), "schema-violation", key)
    if cat == "huge-number":
        field, excess = recipe.param("field"), recipe.param("excess")
        if field == "quantity" and topic in (Order.TOPIC, InventoryEvent.TOPIC):
            data["quantity"] = MAX_QUANTITY + excess
            return bad(_dumps(data), "absurd-quantity")
        prices = [f for f in PRICE_FIELDS if f in data]
        if field == "price" and prices:
            data[pick(prices)] = MAX_PRICE + excess
        else:
            data["event_time_ms"] = MAX_TIME_MS + excess
        return bad(_dumps(data), "schema-violation")
    if cat == "number-overflow":
        digits = ("-" if recipe.param("negative") else "") + "9" * recipe.param("digits")
        numbers = [f for f, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and f != "schema_version"]
        return bad(_splice(data, pick(numbers), digits.encode()), "non-finite-number")
    if cat == "nan-or-infinity":
        numbers = [f for f, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and f != "schema_version"]
        return bad(_splice(data, pick(numbers), recipe.param("token").encode()), "non-finite-number")
    if cat == "negative-quantity":
        kind, quantity = recipe.param("kind"), recipe.param("quantity")
        if kind == "order":
            data["quantity"] = quantity
            return bad(_dumps(data), "absurd-quantity")
        data = _base(InventoryEvent.TOPIC, sku, t, data["event_id"])
        if kind == "count" and quantity == 0:
            quantity = -1                   # a count of zero is a valid count
        data["kind"], data["quantity"] = kind, (0 if kind == "adjustment" else quantity)
        code = "absurd-quantity" if data["quantity"] < -MAX_QUANTITY else "invalid-quantity"
        return BadEvent(InventoryEvent.TOPIC, key, _dumps(data), None, code, cat)
    if cat == "non-positive-price":
        data[pick([f for f in PRICE_FIELDS if f in data])] = recipe.param("price")
        return bad(_dumps(data), "non-positive-price")
    if cat == "unknown-sku":
        data["sku"] = f"ZZ-UNKNOWN-{recipe.param('suffix')}"[:64]
        return bad(_dumps(data), "unknown-sku", data["sku"].encode())
    if cat == "time-far-away":
        future = recipe.param("future") or topic in COMPACTED     # an old catalogue entry or prior is fine
        shift = recipe.param("days") * DAY_MS + 1
        data["event_time_ms"] = ctx.last_tick_ms + shift if future else ctx.last_tick_ms - shift
        if not 0 <= data["event_time_ms"] <= MAX_TIME_MS:
            return bad(_dumps(data), "schema-violation")
        return bad(_dumps(data), "event-time-out-of-range")
    if cat == "time-outside-contract":
        data["event_time_ms"] = recipe.param("time")
        return bad(_dumps(data), "schema-violation")
    if cat == "invalid-utf8":
        text = [f for f, v in data.items() if isinstance(v, str) and f != "sku"]
        name = pick(text)
        value = data[name].encode()
        at = int(recipe.param("where") * (len(value) + 1))
        return bad(_splice(data, name, b'"' + value[:at] + recipe.param("bytes") + value[at:] + b'"'), "invalid-utf8")
    if cat == "oversized":
        target = 65536 + recipe.param("excess")         # over the engine's limit, far under the broker's 1 MiB
        raw = _dumps(data)
        if recipe.param("padding"):
            raw = raw[:-1] + b" " * (target - len(raw)) + b"}"
        else:
            raw = _dumps({**data, "event_id": "y" * (target - len(raw) + len(data["event_id"]))})
        return bad(raw, "payload-too-large")
    if cat == "truncated-json":
        raw = _dumps(data)
        return bad(raw[: 1 + int(recipe.param("cut") * (len(raw) - 1))], "malformed-json")
    if cat == "not-an-object":
        value = {"array": [data], "string": json.dumps(data), "number": 42}.get(recipe.param("value"))
        raw = _dumps(value) if value is not None else recipe.param("value").encode()
        return bad(raw, "not-an-object")
    if cat == "empty-payload":
        return bad(None if recipe.param("null") else b"", "empty-payload")
    if cat == "schema-version":
        version = recipe.param("version")
        if version == "missing":
            del data["schema_version"]
        else:
            data["schema_version"] = version
        return bad(_dumps(data), "unsupported-schema-version")
    if cat == "missing-key":
        return bad(_dumps(data), "missing-key", None)
    if cat == "key-mismatch":
        other = recipe.param("key")
        return bad(_dumps(data), "key-mismatch", other if other != key else other + b"-other")
    if cat == "inconsistent-catalog":
        rule, gap = recipe.param("rule"), recipe.param("gap")
        if rule == "min-above-max":
            data["min_price"] = data["max_price"] + 0.01 + gap
        elif rule == "margin":
            data["min_margin"] = data["max_price"] / data["unit_cost"] - 1 + 0.01 + gap / 100
        elif rule == "s>=S":
            data["reorder_point"] = data["order_up_to"] + gap
        else:
            data["order_up_to"] = None
        return bad(_dumps(data), "inconsistent-catalog")
    raise ValueError(f"unknown category {cat!r}")


class FuzzingDriver(KafkaDriver):
    """The Kafka shell, writing each period's bad events among its valid ones."""

    def __init__(self, settings: Settings, recipes: list[Recipe], periods: int):
        super().__init__(settings)
        # the first period has no tick before it: nothing to check event times against, so none there
        self.by_period: dict[int, list[Recipe]] = {}
        for r in recipes:
            self.by_period.setdefault(1 + int(r.period_u * periods), []).append(r)
        self.period = 0
        self.skus: list[str] = []
        self.last_tick_ms: int | None = None
        self.valid_events = 0
        self.bad: list[BadEvent] = []
        self.expected: dict[tuple[str, int, int], BadEvent] = {}       # (topic, partition, offset) -> its bad event
        self.carried: list[Recipe] = []                                 # retries still waiting for an original
        self.recent: list[list] = []                                    # retryable events of the last periods
        self.serial = 0

    def run_period(self, events: list, tick_time_ms: int) -> list[tuple[str, bytes]]:
        if not self.skus:
            self.skus = sorted({e.sku for e in events if isinstance(e, CatalogEntry)})
        recipes = self.carried + self.by_period.get(self.period, [])
        if self.last_tick_ms is None:
            placed, self.carried = list(events), recipes
        else:
            ctx = PeriodContext(events, self.skus, self.last_tick_ms, self.settings.partitions, self.serial,
                                [e for period in self.recent for e in period])
            placed, self.carried = interleave(events, recipes, ctx)
            self.serial = ctx.serial
        self.recent = [*self.recent[1 - RETRY_PERIODS:], [e for e in events if e.TOPIC in RETRYABLE]]
        for item in placed:
            if isinstance(item, BadEvent):
                self.producer.send_raw(item.topic, item.key, item.value, partition=item.partition)
            else:
                self.producer.send_record(item)
        # flush returns the writes in the order they were sent: where each bad event landed names its dead letter
        for item, sent in zip(placed, self.producer.flush(), strict=True):
            if isinstance(item, BadEvent):
                self.bad.append(item)
                self.expected[(sent.topic, sent.partition, sent.offset)] = item
        self.valid_events += len(events)
        self.period += 1
        self.last_tick_ms = tick_time_ms
        self.producer.tick(tick_time_ms, keep_waiting=self.keep_waiting)
        return self._read_to_end()


def interleave(events: list, recipes: list[Recipe], ctx: PeriodContext) -> tuple[list, list[Recipe]]:
    """The period's valid events with the recipes' bad events among them, in the order to write them, and
    the recipes that could not be made in this period (they wait for the next)."""
    placed: list[tuple[float, int, object]] = [(i + 0.5, 0, e) for i, e in enumerate(events)]
    waiting = []
    for n, recipe in enumerate(recipes):
        made = materialise(recipe, ctx)
        if made is None:
            waiting.append(recipe)
            continue
        event_id = json.loads(made.value)["event_id"] if made.expected is None else None
        original = next((i for i, e in enumerate(events) if e.TOPIC == made.topic and e.event_id == event_id), None)
        if original is not None:        # a retry comes after its original
            position = original + 0.75 + recipe.position_u * (len(events) - original)
        else:
            position = recipe.position_u * len(events)
        placed.append((position, 1 + n, made))
    placed.sort(key=lambda p: (p[0], p[1]))
    return [item for _, _, item in placed], waiting


DECISION_TOPICS = ("price-changes", "restock-orders", "demand-forecasts")
# what Faust and mode log when the agent raises (mode's supervisor then restarts it in the same process);
# not every [ERROR] line: the Kafka client logs a few while the group coordinator starts
CRASH_MARKERS = ("Traceback", "Crashed reason", "Restarting dead", "[CRITICAL]")


def worker_health(log: str) -> dict:
    """What the worker's log says: how often the process and the agent started, and crash lines."""
    lines = log.splitlines()
    crash_lines = [line for line in lines if any(m in line for m in CRASH_MARKERS)]
    return {"process_starts": log.count("pricestream worker: pricing="),
            "agent_starts": sum("Agent: agents.decide" in line and "Starting" in line for line in lines),
            "crash_lines": len(crash_lines), "first_crash_line": crash_lines[0][:300] if crash_lines else None}


def check_dead_letters(expected: dict[tuple[str, int, int], BadEvent], letters: list[bytes]) -> dict:
    """Every bad event's dead letter, by where it was written: missing, unexpected, repeated, wrong code."""
    got: dict[tuple[str, int, int], list[str]] = {}
    for raw in letters:
        letter = json.loads(raw)
        got.setdefault((letter["source_topic"], letter["partition"], letter["offset"]), []).append(letter["error_code"])
    wanted = {place: bad.expected for place, bad in expected.items() if bad.expected is not None}
    wrong = [{"at": list(p), "category": expected[p].category, "expected": code, "got": got[p][0]}
             for p, code in wanted.items() if p in got and got[p][0] != code]
    unexpected = [{"at": list(p), "codes": codes, "category": expected[p].category if p in expected else "valid"}
                  for p, codes in got.items() if p not in wanted]
    return {
        "missing": sum(p not in got for p in wanted),
        "unexpected": len(unexpected), "repeated": sum(len(c) > 1 for c in got.values()),
        "wrong_code": len(wrong),
        "samples": {"missing": [{"at": list(p), "category": expected[p].category, "expected": c}
                                for p, c in wanted.items() if p not in got][:5],
                    "unexpected": unexpected[:5], "wrong_code": wrong[:5]},
    }


def run_fuzz_test(scenario: Scenario, settings: Settings, seed: int, bad: int = 10_000, fuzz_seed: int = 0,
                  local_broker: bool = True, progress: Callable[[str], None] = print) -> dict:
    """Play ``scenario`` through Kafka with ``bad`` hostile events mixed in; check what became of them."""
    started = time.monotonic()
    recipes = draw_recipes(bad, fuzz_seed)
    progress(f"drew {len(recipes)} bad events with Hypothesis in {time.monotonic() - started:.1f} s")
    reference, offline = reference_run(scenario, settings, seed)

    settings = session_settings(settings, local_broker, progress)
    worker = start_worker(settings, worker_log_path(settings))
    pid = worker.process.pid
    progress(f"worker {pid} started (policy {settings.pricing_policy}, topics {settings.topic_prefix}*, "
             f"log {worker.log_path})")
    driver = FuzzingDriver(settings, recipes, scenario.periods)
    played = time.monotonic()
    try:
        via_kafka = simulate(scenario, driver, seed)
        played_s = time.monotonic() - played
        output = read_committed(settings)
        status = worker.status()
        alive, same_pid = worker.alive(), worker.process.pid == pid
        health = worker_health(worker.log())
    finally:
        driver.close()
        worker.stop()
        end_session(settings)

    letters = check_dead_letters(driver.expected, output.get("dead-letter", []))
    per_topic = compare({t: reference[t] for t in DECISION_TOPICS}, {t: output.get(t, []) for t in DECISION_TOPICS})
    duplicates = sum(b.expected is None for b in driver.bad)
    produced = driver.valid_events + len(driver.bad) + (scenario.periods + 1) * settings.partitions
    return {
        "scenario": scenario.name, "policy": settings.pricing_policy, "seed": seed, "fuzz_seed": fuzz_seed,
        "skus": len(scenario.skus), "periods": scenario.periods,
        "events": produced, "valid_events": driver.valid_events, "bad_events": len(driver.bad),
        "bad_by_category": dict(sorted(Counter(b.category for b in driver.bad).items())),
        "not_placed": len(driver.carried),
        "oversized_bytes": sum(len(b.value or b"") for b in driver.bad if b.category == "oversized"),
        "dead_letters": len(output.get("dead-letter", [])),
        "dead_letters_expected": len(driver.bad) - duplicates,
        "dead_letters_by_reason": dict(sorted(Counter(json.loads(v)["error_code"]
                                                      for v in output.get("dead-letter", [])).items())),
        **{f"dead_letters_{k}": v for k, v in letters.items() if k != "samples"},
        "duplicates_sent": duplicates, "duplicates_ignored": status.get("duplicates_ignored"),
        "worker_consumed": status.get("consumed_total"),
        "decisions": sum(len(reference[t]) for t in DECISION_TOPICS),
        "decision_mismatches": sum(t["lost"] + t["extra"] + t["duplicated"] for t in per_topic.values()),
        "decisions_identical": all(t["identical"] for t in per_topic.values()),
        "market_saw_identical_decisions": via_kafka.decisions == offline.decisions,
        "reference_dead_letters": len(reference.get("dead-letter", [])),
        "worker_alive": alive, "worker_same_pid": same_pid,
        "worker_restarts": max(0, health["process_starts"] - 1) + max(0, health["agent_starts"] - 1),
        "worker_crash_lines": health["crash_lines"], "first_crash_line": health["first_crash_line"],
        "dead_letter_samples": letters["samples"],
        "per_topic": {t: {k: v[k] for k in ("reference", "output", "lost", "extra", "identical", "first_difference")}
                      for t, v in per_topic.items()},
        "play_s": round(played_s, 1), "wall_s": round(time.monotonic() - started, 1),
    }


def passed(report: dict) -> bool:
    return (report["dead_letters"] == report["dead_letters_expected"] and report["dead_letters_missing"] == 0
            and report["dead_letters_unexpected"] == 0 and report["dead_letters_repeated"] == 0
            and report["dead_letters_wrong_code"] == 0 and report["reference_dead_letters"] == 0
            and report["duplicates_ignored"] == report["duplicates_sent"]
            and report["worker_consumed"] == report["events"] and report["decision_mismatches"] == 0
            and report["decisions_identical"] and report["market_saw_identical_decisions"]
            and report["worker_alive"] and report["worker_same_pid"] and report["worker_restarts"] == 0
            and report["worker_crash_lines"] == 0)


def run_fuzz_test_command(args, settings: Settings) -> int:
    scenario, seed = harness_scenario(args, periods=24)
    log = log_to_stderr
    log(f"fuzz test: {scenario.name}, {len(scenario.skus)} SKUs, {scenario.periods} periods, seed {seed}, "
        f"{args.bad} bad events (fuzz seed {args.fuzz_seed}), policy {settings.pricing_policy}")
    report = run_fuzz_test(scenario, settings, seed, bad=args.bad, fuzz_seed=args.fuzz_seed,
                           local_broker=not args.external, progress=log)
    print(json.dumps(report, indent=2))
    return 0 if passed(report) else 1
