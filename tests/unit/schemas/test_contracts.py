"""The records, the committed JSON Schemas and the validators agree."""

import dataclasses
import json
import typing

import jsonschema
import pytest

from schemas import examples as ex
from schemas.codec import decode, encode, to_dict
from schemas.jsonschema_gen import record_schema, render, schema_path
from schemas.records import INPUT_RECORDS, OUTPUT_RECORDS, RECORDS_BY_TOPIC
from schemas.topics import TOPICS

ALL_RECORDS = INPUT_RECORDS + OUTPUT_RECORDS


def committed(record):
    return json.loads(schema_path(record.TOPIC).read_text())


@pytest.mark.parametrize("record", ALL_RECORDS, ids=lambda r: r.TOPIC)
def test_the_committed_schema_is_the_one_generated_from_the_record(record):
    assert schema_path(record.TOPIC).read_text() == render(record_schema(record)), \
        "run 'pricestream schemas write'"


@pytest.mark.parametrize("record", ALL_RECORDS, ids=lambda r: r.TOPIC)
def test_each_schema_is_valid_draft_2020_12_with_the_record_fields(record):
    schema = committed(record)
    jsonschema.Draft202012Validator.check_schema(schema)
    fields = {f.name: f for f in dataclasses.fields(record)}
    assert set(schema["properties"]) == set(fields)
    required = {n for n, f in fields.items() if f.default is dataclasses.MISSING}
    assert set(schema["required"]) == required
    assert "schema_version" in required and "event_id" in required
    hints = typing.get_type_hints(record)
    for name, prop in schema["properties"].items():
        nullable = type(None) in typing.get_args(hints[name])
        assert nullable == ("null" in prop.get("type", [])), name


def test_every_topic_has_a_schema_file_and_a_record():
    assert {t.name for t in TOPICS} == set(RECORDS_BY_TOPIC)
    for t in TOPICS:
        assert schema_path(t.name).exists()


EXAMPLES = [ex.catalog_entry(map_price=13.0, price_points=[14.0, 19.0]), ex.click(), ex.order(),
            ex.competitor_price(), ex.inventory(restock_id="r-1")]


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: r.TOPIC)
def test_a_valid_record_encodes_to_json_the_independent_validator_accepts_and_decodes_back(record):
    raw = encode(record)
    jsonschema.validate(json.loads(raw), committed(type(record)), cls=jsonschema.Draft202012Validator)
    assert decode(record.TOPIC, record.sku.encode(), raw, 65536) == record


ORDER = to_dict(ex.order(quantity=2, unit_price=9.5))


def order_with(**changes):
    return json.dumps({**ORDER, **changes}).encode()


@pytest.mark.parametrize("value, code", [
    (b"{oops", "malformed-json"),
    (b'{"schema_version":1,"quantity":NaN}', "non-finite-number"),
    (b'{"schema_version":1,"unit_price":Infinity}', "non-finite-number"),
    (b'{"schema_version":1,"unit_price":1e999}', "non-finite-number"),
    (b"\xff\xfe\x00garbage", "invalid-utf8"),
    (b"[1, 2]", "not-an-object"),
    (b"", "empty-payload"),
    (order_with(schema_version=2), "unsupported-schema-version"),
    (order_with(unit_price=0), "non-positive-price"),
    (order_with(unit_price=-3.5), "non-positive-price"),
    (order_with(quantity=10_000_000), "absurd-quantity"),
    (order_with(quantity=0), "absurd-quantity"),
    (order_with(quantity="two"), "schema-violation"),
    (order_with(surprise=1), "schema-violation"),
    (order_with(sku="OTHER"), "key-mismatch"),
    (b"x" * 70_000, "payload-too-large"),
])
def test_bad_input_is_rejected_with_its_reason(value, code):
    result = decode("orders", ORDER["sku"].encode(), value, 65536)
    assert getattr(result, "error_code", None) == code, result


def test_a_catalog_whose_rules_leave_no_valid_price_is_inconsistent():
    entry = ex.catalog_entry(unit_cost=50.0, min_margin=0.1, max_price=30.0)
    assert decode("catalog", b"SKU-1", encode(entry), 65536).error_code == "inconsistent-catalog"


def test_a_negative_receipt_is_an_invalid_quantity():
    event = ex.inventory(kind="receipt", quantity=-3)
    assert decode("inventory", b"SKU-1", encode(event), 65536).error_code == "invalid-quantity"


def test_a_catalog_tombstone_is_a_delisting_not_a_dead_letter():
    assert type(decode("catalog", b"SKU-1", None, 65536)).__name__ == "Delisting"
    assert decode("orders", b"SKU-1", None, 65536).error_code == "empty-payload"


def test_an_integer_written_as_2_0_decodes_as_the_int_so_it_decides_as_2_would():
    order = to_dict(ex.order(t=5, quantity=2))
    as_floats = json.dumps({**order, "schema_version": 1.0, "event_time_ms": 5.0, "quantity": 2.0}).encode()
    decoded = decode("orders", b"SKU-1", as_floats, 65536)
    assert decoded == ex.order(t=5, quantity=2)
    assert [type(getattr(decoded, f)) for f in ("schema_version", "event_time_ms", "quantity")] == [int, int, int]
    tick = decode("clock", b"0", b'{"schema_version": 1, "event_id": "t", "partition": 3.0, "event_time_ms": 7.0}', 65536)
    assert (tick.partition, tick.event_time_ms) == (3, 7) and type(tick.event_time_ms) is int
