"""Bytes in, records out (or a rejection with its reason); records in, bytes out.

Pure: no Kafka, no Faust. The worker and the simulator both decode through here, so an event the
worker would dead-letter is rejected the same way offline.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import re
import uuid
from dataclasses import dataclass

import fastjsonschema
import orjson

from schemas.jsonschema_gen import record_schema
from schemas.records import (
    INPUT_RECORDS, SCHEMA_VERSION, CalendarEntry, CatalogEntry, DeadLetter, InputRecord, InventoryEvent, ModelPrior, Tick,
)

DEAD_LETTER_PAYLOAD_LIMIT = 4096
EVENT_ID_NAMESPACE = uuid.UUID("6d1f7a52-5c0e-4c61-9a43-2f0e8e3b7c11")

# Every reason an input can be dead-lettered for (the README lists them).
ERROR_CODES = (
    "payload-too-large", "empty-payload", "invalid-utf8", "malformed-json", "non-finite-number",
    "not-an-object", "unsupported-schema-version", "schema-violation", "non-positive-price",
    "absurd-quantity", "invalid-quantity", "missing-key", "key-mismatch", "inconsistent-catalog", "unknown-sku", "wrong-partition",
    "unknown-topic", "event-time-out-of-range", "stale-tick", "empty-range",
)

_VALIDATORS = {r.TOPIC: fastjsonschema.compile(record_schema(r)) for r in INPUT_RECORDS}


def _integer_fields(schema: dict) -> tuple[str, ...]:
    def is_integer(prop: dict) -> bool:
        kind = prop.get("type")
        return kind == "integer" or (isinstance(kind, list) and "integer" in kind) or isinstance(prop.get("const"), int)
    return tuple(name for name, prop in schema["properties"].items() if is_integer(prop))


# JSON Schema's integers include 2.0: such a value becomes the int it is, or the float would reach the
# state and the outputs ("on_hand": 8.0, ids made of "100.0"), unlike the same event written as 2
_INTEGER_FIELDS = {r.TOPIC: _integer_fields(record_schema(r)) for r in INPUT_RECORDS}
_RECORDS = {r.TOPIC: r for r in INPUT_RECORDS}
_NON_FINITE = re.compile(rb'(?:^|[\s\[,:])-?(?:NaN|Infinity)(?:$|[\s\],}])')
_PRICE_FIELDS = {"price", "unit_price", "unit_cost", "list_price", "min_price", "max_price", "map_price",
                 "reference_price"}


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an input event cannot be used. Becomes a ``DeadLetter``."""
    error_code: str
    error: str


@dataclass(frozen=True, slots=True)
class Delisting:
    """A catalog tombstone (null value): the SKU is no longer sold."""
    TOPIC = "catalog"
    sku: str


@dataclass(frozen=True, slots=True)
class PriorWithdrawal:
    """A model-priors tombstone (null value): the SKU's stored prior is dropped; what was learned stays."""
    TOPIC = "model-priors"
    sku: str


@dataclass(frozen=True, slots=True)
class CalendarRemoval:
    """A calendar tombstone (null value): the entry ``calendar_id`` is gone (a cancelled campaign).
    What its effect taught the models stays."""
    TOPIC = "calendar"
    calendar_id: str


_TOMBSTONES = {CatalogEntry.TOPIC: lambda key: Delisting(sku=key), ModelPrior.TOPIC: lambda key: PriorWithdrawal(sku=key),
               CalendarEntry.TOPIC: lambda key: CalendarRemoval(calendar_id=key)}


def decode(topic: str, key: bytes | None, value: bytes | None, max_bytes: int,
           ) -> InputRecord | Delisting | PriorWithdrawal | Rejection:
    """Parse and validate one input message.

    >>> decode("clicks", b"A1", b'{"schema_version":1,"event_id":"e1","sku":"A1","event_time_ms":5}', 1000)
    Click(schema_version=1, event_id='e1', sku='A1', event_time_ms=5, session_id=None, segment=None)
    >>> decode("orders", b"A1", b'{"quantity": NaN}', 1000).error_code
    'non-finite-number'
    """
    validate = _VALIDATORS.get(topic)
    if validate is None:
        return Rejection("unknown-topic", f"no contract for topic {topic!r}")
    if value is None or len(value) == 0:
        if topic in _TOMBSTONES and key:
            return _TOMBSTONES[topic](key.decode("utf-8", "replace"))
        return Rejection("empty-payload", "the message has no value")
    if len(value) > max_bytes:
        return Rejection("payload-too-large", f"{len(value)} bytes is more than the limit of {max_bytes}")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return _json_rejection(value, str(exc))
    if not isinstance(data, dict):
        return Rejection("not-an-object", f"expected a JSON object, got {type(data).__name__}")
    if data.get("schema_version") != SCHEMA_VERSION:
        return Rejection("unsupported-schema-version",
                         f"schema_version {data.get('schema_version')!r}: this engine reads {SCHEMA_VERSION}")
    try:
        validate(data)
    except fastjsonschema.JsonSchemaException as exc:
        return _schema_rejection(exc)
    for name in _INTEGER_FIELDS[topic]:
        if isinstance(data.get(name), float):
            data[name] = int(data[name])
    if topic == Tick.TOPIC:
        return Tick(**data)         # keyed by partition; the caller checks the partition
    if topic == CalendarEntry.TOPIC:
        return _calendar_entry(key, data)
    if key is None:
        return Rejection("missing-key", "events must be keyed by SKU")
    sku = data["sku"]
    if key != sku.encode("utf-8"):
        return Rejection("key-mismatch", f"key {key[:64]!r} is not the event's sku {sku!r}")
    record = _RECORDS[topic](**data)
    if topic == CatalogEntry.TOPIC:
        problem = catalog_problem(record)
        if problem:
            return Rejection("inconsistent-catalog", problem)
    elif topic == InventoryEvent.TOPIC:
        problem = inventory_problem(record)
        if problem:
            return Rejection("invalid-quantity", problem)
    return record


def _calendar_entry(key: bytes | None, data: dict) -> CalendarEntry | Rejection:
    if key is None:
        return Rejection("missing-key", "calendar entries must be keyed by calendar_id")
    if key != data["calendar_id"].encode("utf-8"):
        return Rejection("key-mismatch", f"key {key[:64]!r} is not the entry's calendar_id {data['calendar_id']!r}")
    entry = CalendarEntry(**data)
    if entry.end_ms <= entry.start_ms:
        return Rejection("empty-range", f"end_ms {entry.end_ms} is not after start_ms {entry.start_ms}")
    return entry


def catalog_problem(entry: CatalogEntry) -> str | None:
    """Cross-field rules a JSON Schema cannot state. None when the entry is consistent."""
    if not entry.min_price <= entry.max_price:
        return f"min_price {entry.min_price} is above max_price {entry.max_price}"
    floor = max(entry.min_price, entry.unit_cost * (1 + entry.min_margin), entry.map_price or 0.0)
    if floor > entry.max_price:
        return f"no price satisfies min_price, margin floor and MAP below max_price {entry.max_price}"
    if entry.price_points is not None and not any(floor <= p <= entry.max_price for p in entry.price_points):
        return "no allowed price point lies inside the guardrails"
    if entry.reorder_point is not None and entry.order_up_to is not None and entry.order_up_to <= entry.reorder_point:
        return f"order_up_to {entry.order_up_to} must be above reorder_point {entry.reorder_point}"
    if (entry.reorder_point is None) != (entry.order_up_to is None):
        return "reorder_point and order_up_to come together"
    return None


def inventory_problem(event: InventoryEvent) -> str | None:
    """Quantity rules that depend on the kind of stock movement."""
    if event.kind == "receipt" and event.quantity < 1:
        return f"a receipt adds at least one unit, not {event.quantity}"
    if event.kind == "count" and event.quantity < 0:
        return f"a count cannot be negative: {event.quantity}"
    if event.kind == "adjustment" and event.quantity == 0:
        return "an adjustment of zero units changes nothing"
    return None


def _json_rejection(value: bytes, detail: str) -> Rejection:
    if "UTF-8" in detail:
        return Rejection("invalid-utf8", detail)
    if "infinity" in detail or _NON_FINITE.search(value):
        return Rejection("non-finite-number", f"JSON has no NaN or Infinity: {detail}")
    return Rejection("malformed-json", detail)


def _schema_rejection(exc: fastjsonschema.JsonSchemaException) -> Rejection:
    field_name = (exc.name or "").removeprefix("data.")
    rule = exc.rule
    if field_name in _PRICE_FIELDS and rule in ("exclusiveMinimum", "minimum"):
        return Rejection("non-positive-price", exc.message)
    if field_name == "quantity" and rule in ("maximum", "minimum"):
        return Rejection("absurd-quantity", exc.message)
    return Rejection("schema-violation", exc.message)


def dead_letter(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                rejection: Rejection, record_timestamp_ms: int | None) -> DeadLetter:
    """The dead-letter event for a rejected message; its id is fixed by where the message was read."""
    payload = value or b""
    cut = payload[:DEAD_LETTER_PAYLOAD_LIMIT]
    try:
        text, encoding = cut.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(cut).decode("ascii"), "base64"
    return DeadLetter(
        schema_version=SCHEMA_VERSION,
        event_id=deterministic_id("dead-letter", topic, partition, offset),
        source_topic=topic, partition=partition, offset=offset,
        key=None if key is None else key[:1024].decode("utf-8", "replace"),
        error_code=rejection.error_code, error=rejection.error[:2048],
        raw_payload=text, raw_payload_encoding=encoding, raw_payload_bytes=len(payload),
        raw_payload_truncated=len(payload) > DEAD_LETTER_PAYLOAD_LIMIT,
        record_timestamp_ms=record_timestamp_ms,
    )


def encode(record) -> bytes:
    """A record as compact JSON. A non-finite number is refused (orjson would write it as null).

    >>> encode(Rejection("x", "y"))
    b'{"error_code":"x","error":"y"}'
    """
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{type(record).__name__}.{f.name} is not finite: {value!r}")
    return orjson.dumps(record)


def to_dict(record) -> dict:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def deterministic_id(*parts: object) -> str:
    """A UUID fixed by its parts: the same decision in a replay gets the same id."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "/".join(str(p) for p in parts)))

