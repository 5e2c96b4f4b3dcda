"""``pricestream tail``: read an output topic as a live table, or as JSON lines for piping.

It reads committed events only (``read_committed``, as any downstream consumer should under
exactly_once), from every partition, with no consumer group: tailing never moves anyone's offsets.
Without ``--follow`` it prints what the topic holds and stops at the end offsets it saw at the start;
with ``--follow`` it starts at the end (or at the beginning with ``--from-beginning``) and waits for more.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, TextIO

from pricestream.kafka_clients import check_login, connection
from pricestream.settings import Settings

TAIL_TOPICS = ("price-changes", "restock-orders", "dead-letter", "demand-forecasts")
GAVE_UP_AFTER_S = 30.0      # without --follow: stop if the end offsets are not reached after this long idle


def event_time(ms: int | None) -> str:
    """UTC, to the millisecond.

    >>> event_time(1_700_000_000_123)
    '2023-11-14 22:13:20.123'
    >>> event_time(None)
    '-'
    """
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + f".{ms % 1000:03d}"


def _num(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    value: Callable[[dict], str]
    right: bool = False


def _price_move(e: dict) -> str:
    return f"{_num(e['old_price']):>9} -> {_num(e['new_price']):<9}"


def _change(e: dict) -> str:
    old = e.get("old_price")
    return "new" if not old else f"{(e['new_price'] - old) / old:+.1%}"


def _plus_minus(mean, sd, spec: str = ".2f") -> str:
    return f"{_num(mean, spec)} ±{_num(sd, spec)}"


TIME = Column("time (UTC)", 23, lambda e: event_time(e.get("event_time_ms")))
# a segmented SKU's price change names its segment after the SKU
SKU = Column("sku", 16, lambda e: "/".join(p for p in (e.get("sku") or "-", e.get("segment")) if p))

COLUMNS: dict[str, tuple[Column, ...]] = {
    "price-changes": (
        TIME, SKU,
        Column(f"{'old':>9} -> new", 22, _price_move),
        Column("change", 7, _change, right=True),
        Column("policy", 16, lambda e: e["policy"]),
        Column("reasons", 0, lambda e: ", ".join(e["reasons"])),
    ),
    "restock-orders": (
        TIME, SKU,
        Column("qty", 7, lambda e: str(e["quantity"]), right=True),
        Column("position", 9, lambda e: _num(e["inventory_position"], ".1f"), right=True),
        Column("reorder pt", 10, lambda e: _num(e["reorder_point"], ".1f"), right=True),
        Column("up to", 8, lambda e: _num(e.get("order_up_to"), ".1f"), right=True),
        Column("policy", 14, lambda e: e["policy"]),
        Column("reasons", 0, lambda e: ", ".join(e["reasons"])),
    ),
    "dead-letter": (
        Column("time (UTC)", 23, lambda e: event_time(e.get("record_timestamp_ms"))),
        Column("key", 16, lambda e: "-" if e.get("key") is None else e["key"]),
        Column("source", 26, lambda e: f"{e['source_topic']}[{e['partition']}]@{e['offset']}"),
        Column("error code", 26, lambda e: e["error_code"]),
        Column("error", 0, lambda e: e["error"].replace("\n", " ")),
    ),
    "demand-forecasts": (
        TIME, SKU,
        Column("views", 6, lambda e: str(e["observed_views"]), right=True),
        Column("units", 6, lambda e: str(e["observed_units"]), right=True),
        Column("next units", 15, lambda e: _plus_minus(e["expected_units"], e["units_std"]), right=True),
        Column("price", 9, lambda e: _num(e.get("price")), right=True),
        Column("elasticity", 14, lambda e: _plus_minus(e["elasticity"], e["elasticity_sd"]), right=True),
        Column("model", 0, lambda e: e["forecast_model"]),
    ),
}


def _line(columns, cells) -> str:
    parts = [cell.rjust(c.width) if c.right else cell.ljust(c.width) for c, cell in zip(columns, cells)]
    return "  ".join(parts).rstrip()


def header(topic: str) -> str:
    """The table's header line.

    >>> header("restock-orders").split()[:4]
    ['time', '(UTC)', 'sku', 'qty']
    """
    return _line(COLUMNS[topic], [c.header for c in COLUMNS[topic]])


def format_row(topic: str, event: dict) -> str:
    """One event as a row aligned under ``header(topic)``."""
    return _line(COLUMNS[topic], [c.value(event) for c in COLUMNS[topic]])


def sku_of(topic: str, event: dict) -> str | None:
    """The SKU an event is about (a dead letter's: its message key)."""
    return event.get("key") if topic == "dead-letter" else event.get("sku")


class TopicMissing(LookupError):
    pass


@dataclass
class TailOptions:
    topic: str                      # contract name: one of TAIL_TOPICS
    sku: str | None = None
    follow: bool = False
    as_json: bool = False
    from_beginning: bool = False


def tail(settings: Settings, options: TailOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
         should_stop: Callable[[], bool] = lambda: False) -> int:
    """Print the topic's events; returns how many were printed."""
    from kafka import KafkaConsumer, TopicPartition

    name = settings.topic(options.topic)
    check_login(settings)           # a refused login fails now, with the reason, not after a bootstrap timeout
    consumer = KafkaConsumer(**connection(settings), group_id=None,
                             enable_auto_commit=False, isolation_level="read_committed",
                             client_id=f"{settings.app_id}-tail")
    try:
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            raise TopicMissing(f"topic {name!r} does not exist on {settings.bootstrap_servers} "
                               f"(is PRICESTREAM_TOPIC_PREFIX right?)")
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if options.follow and not options.from_beginning:
            consumer.seek_to_end(*tps)
        else:
            consumer.seek_to_beginning(*tps)
        for tp in tps:
            consumer.position(tp)       # resolve the seeks now: what is written from here on is shown
        ends = None if options.follow else consumer.end_offsets(tps)
        if not options.as_json:
            print(header(options.topic), file=out, flush=True)
        printed, idle_since = 0, time.monotonic()
        while not should_stop():
            if ends is not None and all(consumer.position(tp) >= end for tp, end in ends.items()):
                break
            batches = consumer.poll(timeout_ms=500)
            if batches:
                idle_since = time.monotonic()
            elif ends is not None and time.monotonic() - idle_since > GAVE_UP_AFTER_S:
                print(f"pricestream tail: stopped {GAVE_UP_AFTER_S:.0f} s short of the end offsets {ends}",
                      file=err)
                break
            for tp in sorted(batches, key=lambda tp: tp.partition):
                for message in batches[tp]:
                    printed += _print(options, message, out)
            out.flush()
        return printed
    finally:
        consumer.close()


def _print(options: TailOptions, message, out: TextIO) -> int:
    try:
        event = json.loads(message.value)
    except (TypeError, ValueError):
        return 0            # the worker writes JSON only; a foreign record is not ours to show
    if options.sku is not None and sku_of(options.topic, event) != options.sku:
        return 0
    if options.as_json:
        print(json.dumps(event, separators=(",", ":"), ensure_ascii=False), file=out)
    else:
        if options.topic == "dead-letter" and event.get("record_timestamp_ms") is None:
            event = {**event, "record_timestamp_ms": message.timestamp}
        print(format_row(options.topic, event), file=out)
    return 1


def run_tail(args, settings: Settings) -> int:
    options = TailOptions(args.topic, sku=args.sku, follow=args.follow, as_json=args.json,
                          from_beginning=args.from_beginning)
    # Ctrl-C ends --follow between two polls: a KeyboardInterrupt raised inside kafka-python's poll could
    # leave its client half-way and hang the close (seen once in the full suite)
    interrupted = threading.Event()
    if options.follow:
        signal.signal(signal.SIGINT, lambda signum, frame: interrupted.set())
    try:
        printed = tail(settings, options, should_stop=interrupted.is_set)
    except TopicMissing as exc:
        print(f"pricestream tail: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:            # piped into head, say: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())    # no second error at exit
        return 0
    if not options.as_json and not options.follow:
        print(f"({printed} events; end of {settings.topic(options.topic)})", file=sys.stderr)
    return 0
