"""The dashboard's reader on a fake consumer: the catalogue first and whole, the rest from the lookback on."""

from __future__ import annotations

import threading
from collections import namedtuple

import pytest

from pricestream.dashboard.reader import TopicReader
from pricestream.settings import Settings

Record = namedtuple("Record", "topic key value timestamp")
SETTINGS = Settings.from_env({}).replace(topic_prefix="p.")
NOW_MS = 1_000_000_000


class FakeConsumer:
    """Committed records per partition, each with a Kafka timestamp; poll hands out one at a time."""
    topics_data: dict = {}
    instances: list = []

    def __init__(self, **config):
        self.config = config
        self.assigned, self.positions, self.log = [], {}, []
        FakeConsumer.instances.append(self)

    def partitions_for_topic(self, name):
        return set(self.topics_data[name]) if name in self.topics_data else None

    def topics(self):
        return set(self.topics_data)

    def assign(self, tps):
        self.assigned = list(tps)
        self.log.append(("assign", sorted(tp.topic for tp in tps)))

    def seek_to_beginning(self, *tps):
        self.positions.update(dict.fromkeys(tps, 0))

    def seek(self, tp, offset):
        self.positions[tp] = offset

    def records(self, tp):
        return self.topics_data[tp.topic][tp.partition]

    def end_offsets(self, tps):
        return {tp: len(self.records(tp)) for tp in tps}

    def offsets_for_times(self, times):
        found = {}
        for tp, since in times.items():
            offsets = [i for i, r in enumerate(self.records(tp)) if r.timestamp >= since]
            found[tp] = type("Found", (), {"offset": offsets[0]})() if offsets else None
        return found

    def position(self, tp):
        return self.positions[tp]

    def poll(self, timeout_ms):
        for tp in self.assigned:
            at = self.positions[tp]
            if at < len(self.records(tp)):
                self.positions[tp] += 1
                return {tp: [self.records(tp)[at]]}
        return {}

    def close(self):
        self.log.append(("close",))


@pytest.fixture
def fake_kafka(monkeypatch):
    import kafka

    def rec(topic, key, ts):
        return Record(f"p.{topic}", key.encode(), f"{topic}:{key}".encode(), ts)

    old, recent = NOW_MS - 48 * 3_600_000, NOW_MS - 3_600_000
    FakeConsumer.topics_data = {
        "p.catalog": {0: [rec("catalog", "A", old)], 1: [rec("catalog", "B", old)]},
        "p.orders": {0: [rec("orders", "A", old), rec("orders", "A", recent)], 1: [rec("orders", "B", old)]},
        "p.price-changes": {0: [rec("price-changes", "A", recent)]},
    }
    FakeConsumer.instances = []
    monkeypatch.setattr(kafka, "KafkaConsumer", FakeConsumer)
    monkeypatch.setattr("time.time", lambda: NOW_MS / 1000)
    return FakeConsumer


def read(topics, lookback_s):
    delivered = []
    reader = TopicReader(SETTINGS, topics, delivered.extend, lookback_s)
    thread = threading.Thread(target=reader.run)
    thread.start()
    assert reader.caught_up.wait(10)
    reader.stop()
    thread.join(10)
    return reader, delivered


def test_the_catalogue_is_read_whole_first_then_the_rest_from_the_lookback(fake_kafka):
    reader, delivered = read(("catalog", "orders", "price-changes"), lookback_s=24 * 3600)
    assert [m[:3] for m in delivered[:2]] == [("catalog", b"A", b"catalog:A"), ("catalog", b"B", b"catalog:B")]
    # the 48-hour-old orders are before the lookback; partition 1 has nothing since: it starts at its end
    assert sorted(m[:2] for m in delivered[2:]) == [("orders", b"A"), ("price-changes", b"A")]
    [consumer] = fake_kafka.instances
    assert consumer.config["isolation_level"] == "read_committed" and consumer.config["group_id"] is None
    assert consumer.config["enable_auto_commit"] is False
    assert consumer.log[0] == ("assign", ["p.catalog", "p.catalog"])
    assert consumer.log[-1] == ("close",)
    assert reader.error is None


def test_a_missing_topic_is_waited_for_and_said(fake_kafka):
    delivered = []
    reader = TopicReader(SETTINGS, ("catalog", "dead-letter"), delivered.extend, 3600)
    thread = threading.Thread(target=reader.run)
    thread.start()
    try:
        for _ in range(100):
            if reader.error:
                break
            threading.Event().wait(0.05)
        assert reader.error == "waiting for topics p.dead-letter" and not reader.caught_up.is_set()
        FakeConsumer.topics_data["p.dead-letter"] = {0: []}       # the worker created it
        assert reader.caught_up.wait(10)
    finally:
        reader.stop()
        thread.join(10)
    assert [m[0] for m in delivered] == ["catalog", "catalog"]
