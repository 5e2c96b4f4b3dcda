"""``pricestream tail``: aligned rows per output topic, SKU filter, JSON lines, stopping at the end offsets."""

import io
import json
from collections import namedtuple

import pytest

from pricestream import tail as tail_module
from pricestream.cli import build_parser
from pricestream.settings import Settings
from pricestream.tail import COLUMNS, TAIL_TOPICS, TailOptions, TopicMissing, format_row, header, tail

T = 1_700_000_000_123

EVENTS = {
    "price-changes": [
        {"event_time_ms": T, "sku": "SKU-1", "policy": "learned", "old_price": None, "new_price": 20.0,
         "reasons": ["initial-listing", "cold-start"]},
        {"event_time_ms": T + 60_000, "sku": "A-RATHER-LONG-SKU-NAME", "policy": "competitor-match",
         "old_price": 20.0, "new_price": 17.82, "reasons": ["competitor-undercut"]},
    ],
    "restock-orders": [
        {"event_time_ms": T, "sku": "SKU-1", "policy": "learned", "quantity": 40, "inventory_position": 3.0,
         "reorder_point": 12.4, "order_up_to": 52.0, "reasons": ["below-reorder-point"]},
        {"event_time_ms": T, "sku": "SKU-2", "policy": "fixed-reorder", "quantity": 1200,
         "inventory_position": -4.0, "reorder_point": 5.0, "order_up_to": None, "reasons": ["cold-start"]},
    ],
    "dead-letter": [
        {"record_timestamp_ms": T, "key": "SKU-1", "source_topic": "orders", "partition": 3, "offset": 1234,
         "error_code": "schema-violation", "error": "quantity: must be integer"},
        {"record_timestamp_ms": None, "key": None, "source_topic": "clicks", "partition": 0, "offset": 0,
         "error_code": "missing-key", "error": "no key\nat all"},
    ],
    "demand-forecasts": [
        {"event_time_ms": T, "sku": "SKU-1", "observed_views": 120, "observed_units": 4, "price": 19.5,
         "expected_units": 3.87, "units_std": 1.2, "elasticity": -2.31, "elasticity_sd": 0.4,
         "forecast_model": "seasonal"},
        {"event_time_ms": T, "sku": "SKU-2", "observed_views": 0, "observed_units": 0, "price": None,
         "expected_units": 0.0, "units_std": 0.0, "elasticity": -1.5, "elasticity_sd": 2.0,
         "forecast_model": "none-yet"},
    ],
}


def column_spans(topic):
    start = 0
    for column in COLUMNS[topic]:
        yield column, start, start + column.width
        start += column.width + 2


@pytest.mark.parametrize("topic", TAIL_TOPICS)
def test_every_row_lines_up_under_its_header(topic):
    head = header(topic)
    for event in EVENTS[topic]:
        row = format_row(topic, event)
        assert "\n" not in row
        for column, start, end in column_spans(topic):
            if column is COLUMNS[topic][-1]:
                assert head[start:].startswith(column.header) and row[start - 2:start] == "  "
                break
            if len(column.value(event)) > column.width:
                break                     # an overlong value pushes the rest right; the table goes on
            cell = row[start:end]
            if column.right:
                assert cell.endswith(column.value(event)) and head[start:end].rstrip().endswith(column.header)
            else:
                assert cell.startswith(column.value(event)) and head[start:end].startswith(column.header)


def test_the_rows_say_what_an_operator_looks_for():
    first, move = (format_row("price-changes", e) for e in EVENTS["price-changes"])
    assert first.startswith("2023-11-14 22:13:20.123  SKU-1 ")
    assert "- -> 20.00" in first and "new" in first and first.endswith("initial-listing, cold-start")
    assert "20.00 -> 17.82" in move and "-10.9%" in move and "A-RATHER-LONG-SKU-NAME" in move
    order = format_row("restock-orders", EVENTS["restock-orders"][0]).split()
    assert order[3:8] == ["40", "3.0", "12.4", "52.0", "learned"]
    letter = format_row("dead-letter", EVENTS["dead-letter"][0])
    assert "orders[3]@1234" in letter and "schema-violation" in letter and letter.endswith("quantity: must be integer")
    assert format_row("dead-letter", EVENTS["dead-letter"][1]).endswith("missing-key                 no key at all")
    forecast = format_row("demand-forecasts", EVENTS["demand-forecasts"][0])
    assert "3.87 ±1.20" in forecast and "-2.31 ±0.40" in forecast and forecast.endswith("seasonal")
    segment = format_row("price-changes", {**EVENTS["price-changes"][1], "sku": "SKU-1", "segment": "app"})
    assert "  SKU-1/app " in segment          # a segmented SKU's price names its segment


# -- the reading loop, on a fake consumer ------------------------------------------------------

Record = namedtuple("Record", "value timestamp")
TP = namedtuple("TP", "topic partition")


class FakeConsumer:
    """Two partitions of committed records; positions move as poll() hands them out, one at a time."""
    topics: dict = {}
    instances: list = []

    def __init__(self, **config):
        self.config = config
        self.closed = False
        FakeConsumer.instances.append(self)

    def partitions_for_topic(self, name):
        return set(self.topics[name]) if name in self.topics else None

    def assign(self, tps):
        self.records = {tp: self.topics[tp.topic][tp.partition] for tp in tps}
        self.positions = dict.fromkeys(tps, None)

    def seek_to_beginning(self, *tps):
        self.positions.update(dict.fromkeys(tps, 0))

    def seek_to_end(self, *tps):
        self.positions.update({tp: len(self.records[tp]) for tp in tps})

    def position(self, tp):
        return self.positions[tp]

    def end_offsets(self, tps):
        return {tp: len(self.records[tp]) for tp in tps}

    def poll(self, timeout_ms):
        for tp, at in self.positions.items():
            if at < len(self.records[tp]):
                self.positions[tp] += 1
                return {tp: [self.records[tp][at]]}
        return {}

    def close(self):
        self.closed = True


@pytest.fixture
def fake_kafka(monkeypatch):
    import kafka

    letters = [json.dumps(e).encode() for e in EVENTS["dead-letter"]]
    FakeConsumer.topics = {"p.dead-letter": {0: [Record(letters[0], 5), Record(b"not json", 6)],
                                             1: [Record(letters[1], 777)]}}
    FakeConsumer.instances = []
    monkeypatch.setattr(kafka, "KafkaConsumer", FakeConsumer)
    monkeypatch.setattr(kafka, "TopicPartition", TP)
    return FakeConsumer


SETTINGS = Settings.from_env({}).replace(topic_prefix="p.")


def run(options, **kwargs) -> list[str]:
    out = io.StringIO()
    printed = tail(SETTINGS, options, out=out, **kwargs)
    lines = out.getvalue().splitlines()
    assert printed == len(lines) - (0 if options.as_json else 1)
    return lines


def test_without_follow_it_prints_what_is_there_and_stops_at_the_end_offsets(fake_kafka):
    lines = run(TailOptions("dead-letter"))
    assert lines[0] == header("dead-letter") and len(lines) == 3
    assert "orders[3]@1234" in lines[1]
    assert lines[2].startswith("1970-01-01 00:00:00.777")       # no record time in the letter: Kafka's
    [consumer] = fake_kafka.instances
    assert consumer.closed and consumer.config["isolation_level"] == "read_committed"
    assert consumer.config["group_id"] is None                    # tailing commits no offsets


def test_json_lines_and_the_sku_filter(fake_kafka):
    lines = run(TailOptions("dead-letter", as_json=True))
    assert [json.loads(line)["error_code"] for line in lines] == ["schema-violation", "missing-key"]
    [only] = run(TailOptions("dead-letter", as_json=True, sku="SKU-1"))
    assert json.loads(only) == EVENTS["dead-letter"][0]
    assert run(TailOptions("dead-letter", as_json=True, sku="NOPE")) == []


def test_follow_starts_at_the_end_unless_asked_for_the_beginning(fake_kafka):
    polls = iter(range(10))
    stop_after_some_polls = lambda: next(polls, None) is None     # noqa: E731
    assert run(TailOptions("dead-letter", follow=True), should_stop=stop_after_some_polls) == [header("dead-letter")]
    polls = iter(range(10))
    lines = run(TailOptions("dead-letter", follow=True, from_beginning=True, as_json=True),
                should_stop=lambda: next(polls, None) is None)
    assert len(lines) == 2


def test_a_missing_topic_says_which_and_why(fake_kafka):
    with pytest.raises(TopicMissing, match="p.price-changes.*PRICESTREAM_TOPIC_PREFIX"):
        run(TailOptions("price-changes"))


def test_the_cli_offers_the_four_output_topics_and_the_flags():
    args = build_parser().parse_args(["tail", "restock-orders", "--sku", "S", "--follow", "--json",
                                      "--from-beginning"])
    assert (args.topic, args.sku, args.follow, args.json, args.from_beginning) == ("restock-orders", "S", True, True, True)
    assert args.func.__name__ == "cmd_tail"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tail", "clicks"])
    assert tail_module.TAIL_TOPICS == ("price-changes", "restock-orders", "dead-letter", "demand-forecasts")
