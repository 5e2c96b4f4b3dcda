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


DAY = 86_400_000


def test_events_stamped_more_than_a_week_from_the_last_tick_are_dead_lettered_and_change_nothing():
    engine, store = Engine(EngineConfig()), DictStore()
    deliver(engine, store, ex.catalog_entry(), 0)
    [tick] = ticks_for(30 * DAY, 1)
    deliver(engine, store, tick, 0)
    far_future = deliver(engine, store, ex.click(t=38 * DAY), 1)
    far_past = deliver(engine, store, ex.order(t=22 * DAY), 0)
    future_catalog = deliver(engine, store, ex.catalog_entry(event_time_ms=2_000 * DAY, list_price=25.0), 1)
    assert [h.rejected.error_code for h in (far_future, far_past, future_catalog)] == ["event-time-out-of-range"] * 3
    state = store[b"SKU-1"]
    assert (state.views, state.units_sold, state.catalog.list_price) == (0, 0, 20.0)
    # inside the window they count; an old catalogue entry is still the SKU's latest entry
    assert deliver(engine, store, ex.click(t=37 * DAY), 2).rejected is None
    assert deliver(engine, store, ex.order(t=23 * DAY), 1).rejected is None
    assert deliver(engine, store, ex.catalog_entry(event_time_ms=DAY, event_id="older-but-latest"), 2).rejected is None
    assert (state.views, state.units_sold) == (1, 1)


def test_a_tick_before_the_last_one_is_dead_lettered_and_the_same_period_end_again_is_a_duplicate():
    engine, store = Engine(EngineConfig()), DictStore()
    deliver(engine, store, ex.catalog_entry(), 0)
    deliver(engine, store, ticks_for(10 * DAY, 1)[0], 0)
    again = deliver(engine, store, ticks_for(10 * DAY, 1)[0], 1)
    stale = deliver(engine, store, ticks_for(9 * DAY, 1)[0], 2)
    assert again.duplicate and again.outputs == [] and again.skus_closed == 0
    assert stale.rejected.error_code == "stale-tick" and stale.skus_closed == 0
    assert store[partition_key(0)].last_tick_ms == 10 * DAY
    assert deliver(engine, store, ticks_for(11 * DAY, 1)[0], 3).skus_closed == 1
