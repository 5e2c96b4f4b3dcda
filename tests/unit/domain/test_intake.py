"""One message in, its effects out; a message delivered twice is applied once."""

from pricestream.domain.engine import Engine, EngineConfig
from pricestream.domain.intake import DictStore, Message, handle, partition_key
from pricestream.domain.ticks import ticks_for
from schemas import examples as ex
from schemas.codec import encode


def deliver(engine, store, record, offset, partition=0):
    key = record.sku.encode() if hasattr(record, "sku") else b"0"
    return handle(engine, Message(record.TOPIC, partition, offset, key, encode(record)), store, 65536)


def test_a_message_faust_delivers_again_after_recovery_is_skipped_not_counted_twice():
    engine, store = Engine(EngineConfig()), DictStore()
    deliver(engine, store, ex.catalog_entry(), 0)
    deliver(engine, store, ex.click(t=1), 5)
    again = deliver(engine, store, ex.click(t=1), 5)            # same topic, same offset
    assert again.replayed and store[b"SKU-1"].views == 1
    deliver(engine, store, ex.click(t=2, event_id="c2"), 6)
    assert store[b"SKU-1"].views == 2


def test_a_redelivered_tick_does_not_close_the_period_twice():
    engine, store = Engine(EngineConfig()), DictStore()
    deliver(engine, store, ex.catalog_entry(), 0)
    [tick] = ticks_for(100, 1)
    first = deliver(engine, store, tick, 0)
    second = deliver(engine, store, tick, 0)
    assert first.skus_closed == 1 and second.replayed and second.outputs == []
    assert store[partition_key(0)].last_tick_offset == 0


def test_events_before_any_catalog_entry_are_dead_lettered_at_the_tick_if_still_unlisted():
    engine, store = Engine(EngineConfig()), DictStore()
    deliver(engine, store, ex.click(sku="GHOST", t=1), 0)
    [tick] = ticks_for(100, 1)
    outputs = deliver(engine, store, tick, 0).outputs
    assert [(o.TOPIC, o.error_code, o.source_topic) for o in outputs] == [("dead-letter", "unknown-sku", "clicks")]
    assert store.get(b"GHOST") is None and store[partition_key(0)].skus == []
