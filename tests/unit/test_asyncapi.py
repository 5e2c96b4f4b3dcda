"""schemas/asyncapi.yaml describes every topic of schemas/topics.py, and is a valid AsyncAPI 3.0 document.

No PyPI package ships the official AsyncAPI 3.0.0 JSON Schema (it is published on npm only, as
@asyncapi/specs), so the document is checked here structurally: a JSON Schema written below for the
parts of AsyncAPI 3.0.0 and of the Kafka bindings 0.5.0 that the document uses (required fields,
allowed fields, enumerations), plus the cross-references a schema cannot express (every $ref
resolves, every operation's messages belong to its channel, server variables are defined), plus the
agreement with the project (one channel per topic, payloads are the generated schema files,
partitions and consumer group are the settings' defaults, examples validate against the payloads).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from pricestream.settings import SETTINGS_SPEC
from schemas.jsonschema_gen import schema_path
from schemas.topics import INPUT_TOPICS, KEYED_BY_SKU, OUTPUT_TOPICS, TOPICS, TOPICS_BY_NAME

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = ROOT / "schemas" / "asyncapi.yaml"
DEFAULTS = {s.field: s.default for s in SETTINGS_SPEC}
PAYLOAD_FORMAT = "application/schema+json;version=draft-2020-12"
# Input topics the worker also writes: its live clock ticks every partition (agents/clock.py).
WORKER_PRODUCED_INPUTS = {"clock"}
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


@pytest.fixture(scope="module")
def doc() -> dict:
    return yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))


def resolve(doc: dict, ref: str):
    """The object a local reference (``#/a/b``, JSON Pointer) points at; KeyError if none."""
    assert ref.startswith("#/"), f"not a local reference: {ref}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def deref(doc: dict, obj):
    while isinstance(obj, dict) and set(obj) == {"$ref"} and obj["$ref"].startswith("#/"):
        obj = resolve(doc, obj["$ref"])
    return obj


def walk(node, path=()):
    """Every (path, dict) in the document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def channels_by_address(doc) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, channel in doc["channels"].items():
        found.setdefault(deref(doc, channel)["address"], []).append(key)
    return found


def channel_key(doc, topic: str) -> str:
    (key,) = channels_by_address(doc)[topic]
    return key


def topic_messages(doc, topic: str) -> dict[str, dict]:
    channel = deref(doc, doc["channels"][channel_key(doc, topic)])
    return {name: deref(doc, m) for name, m in channel["messages"].items()}


def is_tombstone(message: dict) -> bool:
    return deref({}, message.get("payload")) == {"type": "null"}


def contract_messages(doc, topic: str) -> list[dict]:
    return [m for m in topic_messages(doc, topic).values() if not is_tombstone(m)]


# ---------------------------------------------------------------------------------------------------
# A JSON Schema for the subset of AsyncAPI 3.0.0 (and Kafka bindings 0.5.0) this document uses. Field
# names, required fields and enumerations follow the specification; objects are closed (any field
# not in the specification is an error), except for specification extensions (x-...).

EXT = {"^x-[\\w\\d.\\-_]+$": {}}
REF = {"type": "object", "required": ["$ref"], "properties": {"$ref": {"type": "string"}},
       "additionalProperties": False}


def closed(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required),
            "patternProperties": EXT, "additionalProperties": False}


def ref_or(schema: dict) -> dict:
    return {"anyOf": [REF, schema]}


TEXT = {"type": "string", "minLength": 1}
TAGS = {"type": "array", "uniqueItems": True,
        "items": ref_or(closed({"name": TEXT, "description": TEXT, "externalDocs": {"type": "object"}},
                               ("name",)))}
EXTERNAL_DOCS = ref_or(closed({"url": TEXT, "description": TEXT}, ("url",)))
SCHEMA = {"type": ["object", "boolean"]}       # an AsyncAPI Schema Object (JSON Schema draft-07 superset)
SCHEMA_FORMATS_THAT_ARE_ASYNCAPI = re.compile(r"^application/vnd\.aai\.asyncapi(\+json|\+yaml)?;version=")
MULTI_FORMAT_SCHEMA = closed({"schemaFormat": TEXT, "schema": {"type": ["object", "boolean"]}},
                             ("schema", "schemaFormat"))

KAFKA_BINDING_VERSION = {"type": "string", "enum": ["0.5.0", "0.4.0", "0.3.0"]}
KAFKA_CHANNEL_BINDING = closed({
    "topic": TEXT,
    "partitions": {"type": "integer", "minimum": 1},
    "replicas": {"type": "integer", "minimum": 1},
    "topicConfiguration": {
        "type": "object",
        "properties": {
            "cleanup.policy": {"type": "array", "items": {"enum": ["compact", "delete"]}},
            "retention.ms": {"type": "integer", "minimum": -1},
            "retention.bytes": {"type": "integer", "minimum": -1},
            "delete.retention.ms": {"type": "integer", "minimum": 0},
            "max.message.bytes": {"type": "integer", "minimum": 0},
        },
    },
    "bindingVersion": KAFKA_BINDING_VERSION,
})
KAFKA_MESSAGE_BINDING = closed({
    "key": ref_or(SCHEMA),
    "schemaIdLocation": {"enum": ["header", "payload"]},
    "schemaIdPayloadEncoding": {"type": "string"},
    "schemaLookupStrategy": {"type": "string"},
    "bindingVersion": KAFKA_BINDING_VERSION,
})
KAFKA_OPERATION_BINDING = closed({"groupId": SCHEMA, "clientId": SCHEMA,
                                  "bindingVersion": KAFKA_BINDING_VERSION})
KAFKA_SERVER_BINDING = closed({"schemaRegistryUrl": TEXT, "schemaRegistryVendor": TEXT,
                               "bindingVersion": KAFKA_BINDING_VERSION})


def bindings(kafka: dict) -> dict:
    # Other protocols' bindings are not used by this document: only kafka is allowed here.
    return ref_or(closed({"kafka": kafka}))


SECURITY_SCHEME_TYPES = [
    "userPassword", "apiKey", "X509", "symmetricEncryption", "asymmetricEncryption", "httpApiKey", "http",
    "oauth2", "openIdConnect", "plain", "scramSha256", "scramSha512", "gssapi",
]
SECURITY_SCHEME = closed({
    "type": {"enum": SECURITY_SCHEME_TYPES}, "description": TEXT, "name": TEXT, "in": TEXT,
    "scheme": TEXT, "bearerFormat": TEXT, "flows": {"type": "object"}, "openIdConnectUrl": TEXT,
    "scopes": {"type": "array", "items": {"type": "string"}},
}, ("type",))
SERVER_VARIABLE = ref_or(closed({
    "enum": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    "default": {"type": "string"}, "description": TEXT,
    "examples": {"type": "array", "items": {"type": "string"}},
}))
SERVER = closed({
    "host": TEXT, "protocol": TEXT, "protocolVersion": TEXT, "pathname": TEXT, "title": TEXT,
    "summary": TEXT, "description": TEXT,
    "variables": {"type": "object", "additionalProperties": SERVER_VARIABLE},
    "security": {"type": "array", "items": ref_or(SECURITY_SCHEME)},
    "tags": TAGS, "externalDocs": EXTERNAL_DOCS, "bindings": bindings(KAFKA_SERVER_BINDING),
}, ("host", "protocol"))
MESSAGE_EXAMPLE = closed({"name": TEXT, "summary": TEXT, "headers": {"type": "object"}, "payload": {}},
                         ())
MESSAGE = closed({
    "headers": ref_or(SCHEMA), "payload": {"anyOf": [REF, MULTI_FORMAT_SCHEMA, SCHEMA]},
    "correlationId": {"type": "object"}, "contentType": TEXT, "name": TEXT, "title": TEXT,
    "summary": TEXT, "description": TEXT, "tags": TAGS, "externalDocs": EXTERNAL_DOCS,
    "bindings": bindings(KAFKA_MESSAGE_BINDING),
    "examples": {"type": "array", "items": {"allOf": [MESSAGE_EXAMPLE, {"anyOf": [
        {"required": ["payload"]}, {"required": ["headers"]}]}]}},
    "traits": {"type": "array"},
})
CHANNEL = closed({
    "address": {"type": ["string", "null"]}, "messages": {"type": "object", "additionalProperties": ref_or(MESSAGE)},
    "title": TEXT, "summary": TEXT, "description": TEXT,
    "servers": {"type": "array", "items": REF, "uniqueItems": True},
    "parameters": {"type": "object"}, "tags": TAGS, "externalDocs": EXTERNAL_DOCS,
    "bindings": bindings(KAFKA_CHANNEL_BINDING),
})
OPERATION = closed({
    "action": {"enum": ["send", "receive"]}, "channel": REF, "title": TEXT, "summary": TEXT,
    "description": TEXT, "security": {"type": "array"}, "tags": TAGS, "externalDocs": EXTERNAL_DOCS,
    "bindings": bindings(KAFKA_OPERATION_BINDING), "traits": {"type": "array"},
    "messages": {"type": "array", "items": REF}, "reply": {"type": "object"},
}, ("action", "channel"))
COMPONENT_KEY = "^[a-zA-Z0-9.\\-_]+$"


def component_map(item: dict) -> dict:
    return {"type": "object", "propertyNames": {"pattern": COMPONENT_KEY}, "additionalProperties": ref_or(item)}


ASYNCAPI_3_0_SUBSET = closed({
    "asyncapi": {"const": "3.0.0"},
    "id": {"type": "string", "format": "uri"},
    "info": closed({
        "title": TEXT, "version": TEXT, "description": TEXT, "termsOfService": TEXT,
        "contact": closed({"name": TEXT, "url": TEXT, "email": TEXT}),
        "license": closed({"name": TEXT, "url": TEXT}, ("name",)),
        "tags": TAGS, "externalDocs": EXTERNAL_DOCS,
    }, ("title", "version")),
    "servers": {"type": "object", "propertyNames": {"pattern": COMPONENT_KEY},
                "additionalProperties": ref_or(SERVER)},
    "defaultContentType": TEXT,
    "channels": {"type": "object", "propertyNames": {"pattern": COMPONENT_KEY},
                 "additionalProperties": ref_or(CHANNEL)},
    "operations": {"type": "object", "propertyNames": {"pattern": COMPONENT_KEY},
                   "additionalProperties": ref_or(OPERATION)},
    "components": closed({
        "schemas": component_map({"anyOf": [MULTI_FORMAT_SCHEMA, SCHEMA]}),
        "servers": component_map(SERVER), "channels": component_map(CHANNEL),
        "operations": component_map(OPERATION), "messages": component_map(MESSAGE),
        "securitySchemes": component_map(SECURITY_SCHEME),
        "serverVariables": component_map(SERVER_VARIABLE),
        "parameters": component_map({"type": "object"}), "correlationIds": component_map({"type": "object"}),
        "replies": component_map({"type": "object"}), "replyAddresses": component_map({"type": "object"}),
        "externalDocs": component_map({"type": "object"}), "tags": component_map({"type": "object"}),
        "operationTraits": component_map({"type": "object"}), "messageTraits": component_map({"type": "object"}),
        "serverBindings": component_map(closed({"kafka": KAFKA_SERVER_BINDING})),
        "channelBindings": component_map(closed({"kafka": KAFKA_CHANNEL_BINDING})),
        "operationBindings": component_map(closed({"kafka": KAFKA_OPERATION_BINDING})),
        "messageBindings": component_map(closed({"kafka": KAFKA_MESSAGE_BINDING})),
    }),
}, ("asyncapi", "info"))


# ---------------------------------------------------------------------------------------------------
# The document is a valid AsyncAPI 3.0 document.

def test_the_document_is_asyncapi_3_0_0_with_the_project_name_and_version(doc):
    assert doc["asyncapi"] == "3.0.0"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert doc["info"]["title"] == project["name"] == "pricestream"
    assert doc["info"]["version"] == project["version"]
    assert len(doc["info"]["description"]) > 200, "describe the engine for downstream consumers"


def test_the_document_matches_the_asyncapi_3_0_structure(doc):
    validator = jsonschema.Draft7Validator(ASYNCAPI_3_0_SUBSET, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors)


def test_the_structure_check_rejects_what_the_specification_rejects(doc):
    """The hand-written subset is strict enough to catch the usual mistakes of AsyncAPI 2 habits."""
    validator = jsonschema.Draft7Validator(ASYNCAPI_3_0_SUBSET)
    op = next(iter(doc["operations"]))
    channel = next(iter(doc["channels"]))
    broken = [
        {**doc, "asyncapi": "2.6.0"},
        {**doc, "operations": {**doc["operations"], op: {**doc["operations"][op], "action": "publish"}}},
        {**doc, "operations": {**doc["operations"], op: {"channel": doc["operations"][op]["channel"]}}},
        {**doc, "channels": {**doc["channels"], channel: {**doc["channels"][channel], "publish": {}}}},
        {**doc, "channels": {**doc["channels"], channel: {**doc["channels"][channel], "bindings": {
            "kafka": {"partitions": 0}}}}},
        {**doc, "channels": {**doc["channels"], channel: {**doc["channels"][channel], "bindings": {
            "kafka": {"topicConfiguration": {"cleanup.policy": ["compacted"]}}}}}},
        {**doc, "info": {"title": "pricestream"}},
        {**doc, "servers": {"local": {"url": "kafka://127.0.0.1:19092", "protocol": "kafka"}}},
        {**doc, "components": {**doc["components"], "securitySchemes": {"s": {"type": "SCRAM-SHA-512"}}}},
    ]
    for i, bad in enumerate(broken):
        assert list(validator.iter_errors(bad)), f"broken document {i} passed the structure check"


def test_every_local_reference_resolves(doc):
    refs = [(path, node["$ref"]) for path, node in walk(doc) if "$ref" in node]
    assert refs
    for path, ref in refs:
        if ref.startswith("#/"):
            try:
                resolve(doc, ref)
            except (KeyError, IndexError, ValueError):
                pytest.fail(f"{'/'.join(map(str, path))}: $ref {ref} does not resolve")
        else:
            target = (ASYNCAPI.parent / ref.split("#")[0]).resolve()
            assert target.is_file(), f"{'/'.join(map(str, path))}: $ref {ref} is not a file beside asyncapi.yaml"


def test_component_names_are_unique_across_message_names(doc):
    names = [m.get("name") for m in doc["components"]["messages"].values()]
    assert len(names) == len(set(names))


def test_servers_are_the_local_broker_and_a_sasl_ssl_production_placeholder(doc):
    servers = {k: deref(doc, v) for k, v in doc["servers"].items()}
    local = servers["local"]
    assert local["host"] == f"127.0.0.1:{DEFAULTS['kafka_port']}" == DEFAULTS["bootstrap_servers"]
    assert local["protocol"] == "kafka"
    assert not local.get("security"), "the local broker is PLAINTEXT without authentication"
    production = servers["production"]
    assert production["protocol"] == "kafka-secure"      # TLS
    schemes = [deref(doc, s) for s in production["security"]]
    assert [s["type"] for s in schemes] == ["scramSha512"]
    assert "SASL_SSL" in production["description"] and "SCRAM-SHA-512" in production["description"]
    for name, server in servers.items():
        used = set(re.findall(r"{([^}]+)}", server["host"] + server.get("pathname", "")))
        defined = set(server.get("variables", {}))
        assert used == defined, f"server {name}: variables used {used} but defined {defined}"
        for var, spec in server.get("variables", {}).items():
            spec = deref(doc, spec)
            assert "default" in spec, f"server {name}: variable {var} needs a default"
            if "enum" in spec:
                assert spec["default"] in spec["enum"]


def test_no_secret_values_are_in_the_document():
    text = ASYNCAPI.read_text(encoding="utf-8")
    assert not re.search(r"(?i)(password|secret|token)\s*[:=]\s*\S", text)


# ---------------------------------------------------------------------------------------------------
# The document describes exactly the topics of schemas/topics.py.

def test_every_channel_is_a_topic(doc):
    assert set(channels_by_address(doc)) == {t.name for t in TOPICS}


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_each_topic_has_exactly_one_channel_with_its_address(doc, topic):
    assert len(channels_by_address(doc).get(topic.name, [])) == 1, f"{topic.name}: want one channel"


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_each_topic_payload_is_its_generated_schema_file(doc, topic):
    messages = contract_messages(doc, topic.name)
    assert len(messages) == 1, f"{topic.name}: want one message with the topic's contract"
    payload = messages[0]["payload"]
    assert payload["schemaFormat"] == PAYLOAD_FORMAT
    ref = payload["schema"]["$ref"]
    assert ref == f"./{topic.name}.schema.json"
    target = (ASYNCAPI.parent / ref).resolve()
    assert target == schema_path(topic.name).resolve()
    assert target.is_file(), f"{ref} does not exist: run 'pricestream schemas write'"
    schema = json.loads(target.read_text(encoding="utf-8"))
    assert schema["$schema"] == DRAFT_2020_12, "schemaFormat says draft 2020-12"
    assert schema.get("x-topic") == topic.name
    assert schema.get("title") == topic.record.__name__
    assert messages[0]["contentType"] == doc["defaultContentType"] == "application/json"


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_each_message_key_is_described_in_kafka_bindings(doc, topic):
    sku = json.loads(schema_path(topic.name).read_text())["properties"].get("sku")
    for name, message in topic_messages(doc, topic.name).items():
        kafka = deref(doc, message["bindings"])["kafka"]
        key = deref(doc, kafka["key"])
        assert key["type"] == "string", f"{topic.name}/{name}: the key is a string"
        if topic.name == "dead-letter":     # a dead letter keeps whatever key the rejected input had
            assert "key of the rejected input" in key["description"]
        elif topic.name in KEYED_BY_SKU:
            assert "SKU" in key["description"], f"{topic.name}/{name}: keyed by SKU"
            assert sku is not None and key.get("pattern") == sku["pattern"], \
                f"{topic.name}/{name}: the key follows the sku field's pattern"
        else:
            assert "SKU" not in key["description"].replace("not by SKU", ""), \
                f"{topic.name}/{name}: not keyed by SKU"
            assert "partition" in key["description"]


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_only_compacted_topics_take_tombstones(doc, topic):
    tombstones = [m for m in topic_messages(doc, topic.name).values() if is_tombstone(m)]
    compacted = "compact" in topic.config.get("cleanup.policy", "")
    assert bool(tombstones) == compacted, f"{topic.name}: a tombstone message iff the topic is compacted"


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_each_channel_binding_has_the_default_partitions_and_the_topic_configuration(doc, topic):
    channel = deref(doc, doc["channels"][channel_key(doc, topic.name)])
    kafka = deref(doc, channel["bindings"])["kafka"]
    assert kafka["partitions"] == int(DEFAULTS["partitions"])
    assert kafka.get("replicas", 1) == int(DEFAULTS["replication_factor"])
    assert kafka.get("topic", topic.name) == topic.name
    configured = kafka.get("topicConfiguration", {})
    for name, value in topic.config.items():
        want = value.split(",") if name == "cleanup.policy" else value
        assert configured.get(name) == want, f"{topic.name}: topicConfiguration {name} should be {want}"
    assert set(configured) <= set(topic.config), f"{topic.name}: configuration not in schemas/topics.py"


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_each_channel_is_tagged_with_its_role(doc, topic):
    channel = deref(doc, doc["channels"][channel_key(doc, topic.name)])
    assert [t["name"] for t in channel.get("tags", [])] == [topic.role]


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_the_examples_are_valid_events_of_the_topic(doc, topic):
    schema = json.loads(schema_path(topic.name).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    (message,) = contract_messages(doc, topic.name)
    examples = message.get("examples", [])
    assert examples, f"{topic.name}: give consumers at least one example"
    for example in examples:
        errors = [e.message for e in validator.iter_errors(example["payload"])]
        assert not errors, f"{topic.name} example {example.get('name')}: {errors}"


# ---------------------------------------------------------------------------------------------------
# Operations: the worker receives every input topic and sends every output topic.

def operations(doc) -> list[tuple[str, dict]]:
    return [(name, deref(doc, op)) for name, op in doc["operations"].items()]


def test_every_operation_references_an_existing_channel_and_its_own_messages(doc):
    for name, op in operations(doc):
        ref = op["channel"]["$ref"]
        assert re.fullmatch(r"#/channels/[^/]+", ref), f"{name}: channel must be a #/channels/ reference"
        channel = resolve(doc, ref)
        assert "address" in deref(doc, channel)
        assert op.get("messages"), f"{name}: list the messages it sends or receives"
        for message in op["messages"]:
            assert message["$ref"].startswith(ref + "/messages/"), \
                f"{name}: {message['$ref']} is not a message of its channel {ref}"
            resolve(doc, message["$ref"])


def test_the_worker_receives_the_inputs_and_sends_the_outputs(doc):
    by_topic: dict[str, list[str]] = {}
    for name, op in operations(doc):
        address = deref(doc, resolve(doc, op["channel"]["$ref"]))["address"]
        by_topic.setdefault(address, []).append(op["action"])
        role = TOPICS_BY_NAME[address].role
        if address in WORKER_PRODUCED_INPUTS:
            continue
        assert op["action"] == {"input": "receive", "output": "send"}[role], \
            f"{name}: {address} is an {role} topic"
    for topic in INPUT_TOPICS:
        want = ["receive", "send"] if topic in WORKER_PRODUCED_INPUTS else ["receive"]
        assert sorted(by_topic.get(topic, [])) == want, f"want operations {want} on {topic}"
    for topic in OUTPUT_TOPICS:
        assert by_topic.get(topic) == ["send"], f"want one send operation on {topic}"
    assert WORKER_PRODUCED_INPUTS <= set(INPUT_TOPICS)


def test_receive_operations_list_every_message_of_their_channel(doc):
    for name, op in operations(doc):
        channel_ref = op["channel"]["$ref"]
        channel = deref(doc, resolve(doc, channel_ref))
        listed = {m["$ref"] for m in op["messages"]}
        assert listed == {f"{channel_ref}/messages/{m}" for m in channel["messages"]}, name


def test_the_consumer_group_is_the_default_app_id(doc):
    for name, op in operations(doc):
        if op["action"] != "receive":
            continue
        group = deref(doc, op["bindings"])["kafka"]["groupId"]
        assert group["type"] == "string"
        assert group["default"] == DEFAULTS["app_id"]
        assert "PRICESTREAM_APP_ID" in group["description"], name
