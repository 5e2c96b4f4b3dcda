"""Generate the JSON Schema (draft 2020-12) of a record type from its fields.

The committed ``schemas/<topic>.schema.json`` files are this module's output; ``tests/unit/schemas``
fails when they drift, and ``pricestream schemas write`` rewrites them.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

from schemas.records import RECORDS_BY_TOPIC, SCHEMA_VERSION

SCHEMA_DIR = Path(__file__).resolve().parent
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://pricestream.dev/schemas/"

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _type_schema(tp) -> dict:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:   # Optional[X]: X's schema, with null allowed (keywords like items skip null)
            inner = _type_schema(args[0])
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [_type_schema(a) for a in typing.get_args(tp)]}
    if origin is typing.Literal:
        values = list(typing.get_args(tp))
        return {"const": values[0]} if len(values) == 1 else {"enum": values}
    if origin is list:
        (item,) = typing.get_args(tp)
        return {"type": "array", "items": _type_schema(item)}
    if origin is dict:
        _, value = typing.get_args(tp)
        return {"type": "object", "additionalProperties": _type_schema(value)}
    return {"type": _SCALARS[tp]}


def record_schema(record: type) -> dict:
    hints = typing.get_type_hints(record)
    properties, required = {}, []
    for f in dataclasses.fields(record):
        prop = {"description": f.metadata["description"], **_type_schema(hints[f.name])}
        constraints = dict(f.metadata["constraints"])
        if "items" in constraints:          # constraints of an array's items merge into its item schema
            prop["items"] = {**prop["items"], **constraints.pop("items")}
        prop.update(constraints)
        if f.default is dataclasses.MISSING:
            required.append(f.name)
        else:
            prop["default"] = f.default
        properties[f.name] = prop
    return {
        "$schema": DIALECT,
        "$id": f"{ID_BASE}{record.TOPIC}.schema.json",
        "title": record.__name__,
        "description": (record.__doc__ or "").strip(),
        "x-topic": record.TOPIC,
        "x-schema-version": SCHEMA_VERSION,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def schema_path(topic: str) -> Path:
    return SCHEMA_DIR / f"{topic}.schema.json"


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_all() -> list[Path]:
    written = []
    for topic, record in RECORDS_BY_TOPIC.items():
        path = schema_path(topic)
        path.write_text(render(record_schema(record)), encoding="utf-8")
        written.append(path)
    return written
