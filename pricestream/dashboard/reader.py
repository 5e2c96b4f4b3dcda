"""The dashboard's Kafka side: one kafka-python consumer in a thread, handing batches to the state.

Committed events only (``read_committed``), every partition, no consumer group (it moves no one's
offsets). The catalogue (compacted) is read to its end first, so every listed SKU is known before the
events about it; the other topics start ``lookback_s`` back (by Kafka timestamp) and are then followed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from pricestream import kafka_clients
from pricestream.kafka_clients import connection
from pricestream.settings import Settings

log = logging.getLogger("pricestream.dashboard")

Batch = list[tuple[str, bytes | None, bytes | None, int | None]]     # (contract topic, key, value, timestamp)

COMPACTED = ("catalog",)
MAX_RECORDS_PER_BATCH = 2000


class TopicReader(threading.Thread):
    def __init__(self, settings: Settings, topics: tuple[str, ...], deliver: Callable[[Batch], None],
                 lookback_s: float):
        super().__init__(name="dashboard-reader", daemon=True)
        self.settings = settings
        self.topics = topics
        self.deliver = deliver            # blocks until the state has applied the batch: back-pressure
        self.lookback_s = lookback_s
        self.caught_up = threading.Event()       # the history up to the start has been read
        self.stopping = threading.Event()
        self.error: str | None = None            # the latest problem, for the page (no connection details)

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._read()
            except Exception as exc:       # broker away, topic deleted...: say so, wait, start over
                refused = _auth_failure(exc, self.settings)
                if refused is not None:     # a wrong password stays wrong: no retry (each is a failed login)
                    self.error = str(refused)
                    log.error("dashboard reader: %s", self.error)
                    return
                self.error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("dashboard reader: %s; retrying in 5 s", self.error)
                self.stopping.wait(5)

    def _consumer(self):
        from kafka import KafkaConsumer

        return KafkaConsumer(**connection(self.settings), group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed", client_id=f"{self.settings.app_id}-dashboard",
                             max_poll_records=MAX_RECORDS_PER_BATCH)

    def _partitions(self, consumer, topics) -> list:
        """Every partition of ``topics``, waiting for topics that do not exist yet (the worker creates them)."""
        from kafka import TopicPartition

        while not self.stopping.is_set():
            found = {t: consumer.partitions_for_topic(self.settings.topic(t)) for t in topics}
            missing = [t for t, parts in found.items() if not parts]
            if not missing:
                return [TopicPartition(self.settings.topic(t), p) for t, parts in found.items() for p in sorted(parts)]
            self.error = f"waiting for topics {', '.join(self.settings.topic(t) for t in missing)}"
            self.stopping.wait(2)
            consumer.topics()           # refreshes the metadata
        return []

    def _read(self) -> None:
        self.error = f"connecting to {self.settings.bootstrap_servers}"     # until the history is read
        consumer = self._consumer()
        try:
            compacted = [t for t in self.topics if t in COMPACTED]
            others = [t for t in self.topics if t not in COMPACTED]
            first = self._partitions(consumer, compacted)
            rest = self._partitions(consumer, others)
            if self.stopping.is_set():
                return
            consumer.assign(first)
            consumer.seek_to_beginning(*first)
            self._read_to(consumer, consumer.end_offsets(first))
            consumer.assign(first + rest)
            since = int((time.time() - self.lookback_s) * 1000)
            starts = consumer.offsets_for_times({tp: since for tp in rest}) if rest else {}
            ends = consumer.end_offsets(rest) if rest else {}
            for tp in rest:
                found = starts.get(tp)
                consumer.seek(tp, found.offset if found is not None else ends[tp])
            self._read_to(consumer, consumer.end_offsets(first + rest))
            self.caught_up.set()
            self.error = None
            while not self.stopping.is_set():
                self._poll(consumer)
        finally:
            consumer.close()

    def _read_to(self, consumer, ends: dict) -> None:
        while not self.stopping.is_set() and any(consumer.position(tp) < end for tp, end in ends.items()):
            self._poll(consumer)

    def _poll(self, consumer) -> None:
        prefix = self.settings.topic_prefix
        batch: Batch = [(message.topic[len(prefix):], message.key, message.value, message.timestamp)
                        for messages in consumer.poll(timeout_ms=500).values() for message in messages]
        if batch:
            self.deliver(batch)


def _auth_failure(exc: BaseException, settings: Settings):
    """The refused login or TLS handshake behind ``exc``, if any (``kafka_clients.auth_failure``)."""
    find = getattr(kafka_clients, "auth_failure", None)
    return find(exc, settings) if find is not None else None
