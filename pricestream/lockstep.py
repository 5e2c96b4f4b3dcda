"""Lockstep with the worker: wait until it has committed what was produced, before ticking.

A tick closes a period for the events the worker has *consumed*. Kafka orders each partition of each
topic, not the topics among themselves, so a tick sent right after a period's events could be read
before some of them. A producer that needs exact periods (the simulator, the tests) therefore waits
until the worker's consumer group has committed every event of the period, then sends the tick, and
waits for the tick to be committed too: its decisions are then visible to read_committed consumers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import (
    CoordinatorLoadInProgressError, CoordinatorNotAvailableError, KafkaConnectionError, KafkaTimeoutError,
    NodeNotReadyError, NotCoordinatorError,
)

from pricestream.domain.ticks import ticks_for
from pricestream.kafka_clients import connection
from pricestream.settings import Settings
from schemas.codec import encode
from schemas.records import Tick
from schemas.topics import BROADCAST_TOPICS

Position = tuple[str, int]          # (topic name as on the broker, partition)


class LockstepTimeout(TimeoutError):
    """The worker did not commit what was produced in time (is it running?)."""


class Lockstep:
    def __init__(self, settings: Settings, group_id: str | None = None, poll_s: float = 0.02):
        self.group_id = group_id or settings.app_id
        self.poll_s = poll_s
        self._admin = KafkaAdminClient(**connection(settings),
                                       client_id=f"{self.group_id}-lockstep")

    def committed(self) -> dict[Position, int]:
        """The group's committed offsets: the next offset it will read, per topic partition."""
        try:
            offsets = self._admin.list_group_offsets(self.group_id).get(self.group_id, {})
        except (CoordinatorNotAvailableError, NotCoordinatorError,
                CoordinatorLoadInProgressError):
            return {}           # the group has not committed yet (or its coordinator is moving)
        except (KafkaConnectionError, NodeNotReadyError, KafkaTimeoutError):
            return {}           # the broker is down or restarting: nothing seen committed, wait on
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    def wait_committed(self, targets: dict[Position, int], timeout_s: float = 60,
                       keep_waiting: Callable[[], bool] | None = None) -> None:
        """Block until the group has committed at least ``targets`` (next offsets, exclusive).

        When ``timeout_s`` runs out, ``keep_waiting`` (if given) may grant another ``timeout_s``: for
        a worker that was restarted meanwhile and has to rejoin the group and recover first.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            committed = self.committed()
            behind = {p: o for p, o in targets.items() if committed.get(p, 0) < o}
            if not behind:
                return
            if time.monotonic() > deadline and keep_waiting is not None and keep_waiting():
                deadline = time.monotonic() + timeout_s
            elif time.monotonic() > deadline:
                raise LockstepTimeout(f"group {self.group_id!r} has not committed {behind} after {timeout_s} s "
                                      f"(committed: { {p: committed.get(p) for p in behind} })")
            time.sleep(self.poll_s)

    def close(self) -> None:
        self._admin.close()


@dataclass(frozen=True)
class Sent:
    """A message as it was written: enough to replay it through the offline shell."""
    topic: str              # contract name, without the deployment prefix
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


class LockstepProducer:
    """Writes events and ticks so that every tick closes exactly the events written before it."""

    def __init__(self, settings: Settings, record_sent: bool = False):
        self.settings = settings
        self.sent: list[Sent] = []
        self.record_sent = record_sent
        self.lockstep = Lockstep(settings)
        self._ends: dict[Position, int] = {}
        self._pending = []
        self._producer = KafkaProducer(**connection(settings), acks="all",
                                       linger_ms=2)

    def send_record(self, record) -> None:
        if record.TOPIC in BROADCAST_TOPICS:        # a calendar entry: every partition gets its copy
            for partition in range(self.settings.partitions):
                self.send_raw(record.TOPIC, record.calendar_id.encode(), encode(record), partition=partition)
            return
        self.send_raw(record.TOPIC, record.sku.encode(), encode(record))

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        future = self._producer.send(self.settings.topic(topic), key=key, value=value, partition=partition)
        self._pending.append((topic, key, value, future))

    def flush(self) -> list[Sent]:
        """Wait for every write to be acknowledged; returns them with their partitions and offsets."""
        self._producer.flush()
        written = []
        for topic, key, value, future in self._pending:
            meta = future.get(timeout=30)
            written.append(Sent(topic, meta.partition, meta.offset, key, value, meta.timestamp))
            position = (meta.topic, meta.partition)
            self._ends[position] = max(self._ends.get(position, 0), meta.offset + 1)
        self._pending.clear()
        if self.record_sent:
            self.sent += written
        return written

    def tick(self, t: int, timeout_s: float = 60, keep_waiting: Callable[[], bool] | None = None) -> None:
        """Close the period at event time ``t`` on every partition and wait for its decisions."""
        self.flush()
        self.lockstep.wait_committed(dict(self._ends), timeout_s, keep_waiting)
        for tick in ticks_for(t, self.settings.partitions):
            self.send_raw(Tick.TOPIC, str(tick.partition).encode(), encode(tick), partition=tick.partition)
        self.flush()
        self.lockstep.wait_committed(dict(self._ends), timeout_s, keep_waiting)

    def produced(self) -> dict[Position, int]:
        """The end (next offset) of every partition written so far."""
        return dict(self._ends)

    def close(self) -> None:
        self._producer.close()
        self.lockstep.close()
