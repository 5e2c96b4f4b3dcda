"""``pricestream calendar publish FILE`` / ``calendar remove ID...``: put holidays, campaigns and signals
on the ``calendar`` topic, each on every partition.

Every partition gets its own copy of each entry (the key is the ``calendar_id``, the partition chosen
explicitly), because each partition's SKUs read the calendar in order with their own events: a copy
hashed to one partition by its key would reach only that partition's SKUs. Entries are checked with
the worker's own decoder first; if any is bad, nothing is published.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pricestream.kafka_clients import publish as publish_messages
from pricestream.settings import Settings
from schemas.codec import Rejection, decode, deterministic_id, encode
from schemas.records import SCHEMA_VERSION, CalendarEntry

MAX_ENTRY_BYTES = 65536


def entries_from_file(path: str | Path, now_ms: int | None = None) -> list[CalendarEntry]:
    """The entries of a JSON file (one object or a list). ``schema_version``, ``event_time_ms`` (now) and
    ``event_id`` (from the entry's content, so publishing the same file twice is the same revision) may be
    left out. Raises ValueError naming every bad entry and why."""
    data = json.loads(Path(path).read_text())
    items = data if isinstance(data, list) else [data]
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    entries, problems = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"entry {i}: expected a JSON object, got {type(item).__name__}")
            continue
        item = {"schema_version": SCHEMA_VERSION, "event_time_ms": now_ms, **item}
        if "event_id" not in item:
            content = {k: v for k, v in sorted(item.items()) if k != "event_time_ms"}
            item["event_id"] = deterministic_id("calendar", json.dumps(content, sort_keys=True))
        key = str(item.get("calendar_id", "")).encode() or None
        record = decode(CalendarEntry.TOPIC, key, json.dumps(item).encode(), MAX_ENTRY_BYTES)
        if isinstance(record, Rejection):
            problems.append(f"entry {i} ({item.get('calendar_id', 'no calendar_id')}): {record.error_code}: "
                            f"{record.error}")
        else:
            entries.append(record)
    if problems:
        raise ValueError("; ".join(problems))
    return entries


def publish(settings: Settings, messages: list[tuple[bytes, bytes | None]], timeout_s: float = 30) -> int:
    """Write each (key, value) to every partition of the calendar topic (created if missing); returns the
    number of records written."""
    return publish_messages(settings, CalendarEntry.TOPIC,
                            [(key, value, p) for key, value in messages for p in range(settings.partitions)], timeout_s)


def run_calendar_command(args, settings: Settings) -> int:
    if args.action == "publish":
        try:
            entries = entries_from_file(args.file)
        except (OSError, ValueError) as exc:
            print(f"pricestream calendar publish: {exc}", file=sys.stderr)
            return 2
        for e in entries:
            lift = "no guess" if e.expected_lift is None else f"expected lift {e.expected_lift:g}"
            scope = "every SKU" if e.skus is None else f"{len(e.skus)} SKUs"
            print(f"{e.calendar_id}: {e.kind} {e.effect!r} from {e.start_ms} to {e.end_ms}, value {e.value:g}, "
                  f"{lift}, {scope}")
        if args.dry_run:
            print(f"dry run: {len(entries)} entries checked, nothing published")
            return 0
        written = publish(settings, [(e.calendar_id.encode(), encode(e)) for e in entries])
    else:
        written = publish(settings, [(calendar_id.encode(), None) for calendar_id in args.ids])
    print(f"{written} records written to {settings.topic(CalendarEntry.TOPIC)} "
          f"({settings.partitions} partitions each)")
    return 0
