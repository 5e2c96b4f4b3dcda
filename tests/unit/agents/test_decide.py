"""The agent's glue, in Faust's test context: messages in, sends out, table written. No broker."""

import asyncio

import orjson
from unittest.mock import AsyncMock

import pytest

from pricestream.settings import Settings
from schemas import examples as ex
from pricestream.domain.ticks import ticks_for
from schemas.codec import encode
from streams.app import create_worker
from streams.tables import pack_state, unpack_state


@pytest.fixture
def worker():
    worker = create_worker(Settings.from_env({}, partitions=1, app_id="agent-test"))
    worker.app.finalize()
    worker.app.conf.store = "memory://"
    worker.app.flow_control.resume()
    for topic in worker.topics.outputs.values():
        topic.send = AsyncMock()
    return worker


async def put_on(agent, topic: str, key: bytes | None, value: bytes | None) -> None:
    """Like ``agent.put``, but on a named input topic: the agent dispatches by topic."""
    message = agent.to_message(key, value, offset=agent.sent_offset)
    message.topic = topic
    channel = agent.stream().channel
    await channel.put(await channel.decode(message))
    agent.sent_offset += 1
    async with agent.new_value_processed:
        await agent.new_value_processed.wait()


async def tick(agent, t: int) -> None:
    [only] = ticks_for(t, partitions=1)
    await put_on(agent, "clock", b"0", encode(only))


def sent(worker, topic: str) -> list[bytes]:
    return [call.kwargs["value"] for call in worker.topics.outputs[topic].send.await_args_list]


def test_a_catalog_entry_lists_the_sku_stores_its_state_and_sends_its_first_price(worker):
    entry = ex.catalog_entry(sku="G1")

    async def scenario():
        async with worker.app.agents["decide"].test_context() as agent:
            await put_on(agent, "catalog", b"G1", encode(entry))
            assert sent(worker, "price-changes") == []          # decisions wait for the tick
            await tick(agent, 1000)

    asyncio.run(scenario())
    [raw] = sent(worker, "price-changes")
    assert b'"new_price":20.0' in raw and b'"initial-listing"' in raw
    assert unpack_state(worker.tables.sku_state[b"G1"]).price == 20.0
    assert worker.counters.consumed["catalog"] == 1 and worker.counters.skus_closed == 1
    key = worker.topics.outputs["price-changes"].send.await_args.kwargs["key"]
    assert key == b"G1"          # outputs are keyed by SKU, not by the tick's key


def test_a_bad_message_is_sent_to_dead_letter_counted_and_the_next_one_is_still_decided(worker):
    async def scenario():
        async with worker.app.agents["decide"].test_context() as agent:
            await put_on(agent, "catalog", b"G2", b"{broken")
            await put_on(agent, "catalog", b"G2", encode(ex.catalog_entry(sku="G2")))
            await tick(agent, 1000)

    asyncio.run(scenario())
    [letter] = sent(worker, "dead-letter")
    assert b'"error_code":"malformed-json"' in letter
    assert worker.counters.dead_letters == {"malformed-json": 1}
    assert len(sent(worker, "price-changes")) == 1


def test_a_tick_on_the_wrong_partition_is_a_dead_letter(worker):
    async def scenario():
        async with worker.app.agents["decide"].test_context() as agent:
            await put_on(agent, "clock", b"3", encode(ticks_for(5, partitions=4)[3]))

    asyncio.run(scenario())
    assert worker.counters.dead_letters == {"wrong-partition": 1}


def test_a_catalog_tombstone_removes_the_skus_state(worker):
    async def scenario():
        async with worker.app.agents["decide"].test_context() as agent:
            await put_on(agent, "catalog", b"G3", encode(ex.catalog_entry(sku="G3")))
            await put_on(agent, "catalog", b"G3", None)
            await put_on(agent, "clicks", b"G3", encode(ex.click(sku="G3")))
            assert worker.counters.dead_letters == {}       # the verdict waits for the tick
            await tick(agent, 1000)

    asyncio.run(scenario())
    assert worker.tables.sku_state.get(b"G3") is None
    assert worker.counters.dead_letters == {"unknown-sku": 1}
    [letter] = sent(worker, "dead-letter")
    assert b'"source_topic":"clicks"' in letter and worker.topics.outputs["dead-letter"].send.await_args.kwargs["key"] == b"G3"


def test_events_before_the_catalog_entry_in_the_same_period_are_kept_not_dead_lettered(worker):
    async def scenario():
        async with worker.app.agents["decide"].test_context() as agent:
            await put_on(agent, "inventory", b"G4", encode(ex.inventory(sku="G4", kind="count", quantity=7)))
            await put_on(agent, "catalog", b"G4", encode(ex.catalog_entry(sku="G4")))
            await tick(agent, 1000)

    asyncio.run(scenario())
    assert sent(worker, "dead-letter") == []
    assert unpack_state(worker.tables.sku_state[b"G4"]).stock.on_hand == 7


def test_the_state_table_writes_its_changelog_in_the_format_it_recovers_from(worker):
    """The table holds packed states, and its changelog the same bytes: what a restart reads back."""
    from pricestream.domain.engine import Engine, EngineConfig

    engine = Engine(EngineConfig())
    state = engine.apply(None, ex.catalog_entry(sku="G5")).state
    engine.close(state, 0)
    engine.close(state, 3_600_000, period_ms=3_600_000)
    table = worker.tables.sku_state
    topic = table.changelog_topic
    raw_key, _ = topic.prepare_key(b"G5", table.key_serializer)
    raw_value, _ = topic.prepare_value(pack_state(state), table.value_serializer)
    assert raw_key == b"G5" and raw_value == pack_state(state)
    message = type("Message", (), {"value": raw_value, "key": raw_key, "headers": {}})()
    restored = unpack_state(topic.schema.loads_value(worker.app, message))
    assert restored.to_dict() == state.to_dict() and restored.demand.views is not None
    assert len(raw_value) < len(orjson.dumps(state.to_dict())) / 2       # packed: zlib over the JSON
    # a changelog written before states were packed (plain JSON) still recovers
    assert unpack_state(orjson.dumps(state.to_dict())).to_dict() == state.to_dict()


def test_the_agent_counts_what_it_sends_for_metrics_and_the_table_size_is_read_on_scrape(worker):
    from streams.metrics import worker_sources

    async def scenario():
        async with worker.app.agents["decide"].test_context() as agent:
            await put_on(agent, "catalog", b"M1", encode(ex.catalog_entry(sku="M1")))
            await put_on(agent, "clicks", b"M1", b"{broken")
            await tick(agent, 1000)
            await tick(agent, 2000)

    asyncio.run(scenario())
    counters = worker.counters
    decided = {}
    for (topic, _, _), n in counters.decisions.items():
        decided[topic] = decided.get(topic, 0) + n
    assert decided == {"price-changes": len(sent(worker, "price-changes")),
                       "demand-forecasts": len(sent(worker, "demand-forecasts"))} and decided["demand-forecasts"] == 2
    assert counters.decision_latency.count == sum(decided.values())
    assert counters.forecast_errors.count == 1                  # M1's first forecast, scored at the second tick
    assert worker_sources(worker).table_keys() == {"sku-state": len(worker.tables.sku_state)}
    assert len(worker.tables.sku_state) >= 1
