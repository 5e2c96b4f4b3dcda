"""The Kafka shell of the simulator: events to a real broker, a real worker decides, decisions read back."""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Iterator

from kafka import KafkaConsumer, TopicPartition

from pricestream.kafka_clients import connection
from pricestream.lockstep import LockstepProducer
from pricestream.settings import Settings
from pricestream.topics_admin import reset_topics
from pricestream.worker_process import WorkerProcess, start_worker
from schemas.topics import OUTPUT_TOPICS



class KafkaDriver:
    """Writes each period's events and its ticks in lockstep, then reads every committed decision."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.producer = LockstepProducer(settings)
        self.consumer = KafkaConsumer(**connection(settings),
                                      isolation_level="read_committed", enable_auto_commit=False,
                                      group_id=None, auto_offset_reset="earliest")
        self.partitions = [TopicPartition(settings.topic(t), p) for t in OUTPUT_TOPICS
                           for p in range(settings.partitions)]
        self.consumer.assign(self.partitions)
        self._log_ends = KafkaConsumer(**connection(settings), isolation_level="read_uncommitted",
                                       enable_auto_commit=False, group_id=None)
        self.dead_letters: list[bytes] = []
        self.keep_waiting = None        # see Lockstep.wait_committed: a crash test grants a restarted worker time

    def run_period(self, events: list, tick_time_ms: int) -> list[tuple[str, bytes]]:
        for record in events:
            self.producer.send_record(record)
        self.before_tick()
        self.producer.tick(tick_time_ms, keep_waiting=self.keep_waiting)    # returns once its decisions are committed
        return self._read_to_end()

    def before_tick(self) -> None:
        """Called with the period's events written, before the lockstep tick (a crash test kills here)."""

    def _read_to_end(self) -> list[tuple[str, bytes]]:
        ends = self._stable_ends()
        decisions = []
        while any(self.consumer.position(tp) < end for tp, end in ends.items()):
            for tp, batch in self.consumer.poll(timeout_ms=200).items():
                topic = tp.topic.removeprefix(self.settings.topic_prefix)
                for msg in batch:
                    (self.dead_letters.append(msg.value) if topic == "dead-letter"
                     else decisions.append((topic, msg.value)))
        return decisions

    def _stable_ends(self, timeout_s: float = 10.0) -> dict:
        """The output partitions' last stable offsets, once no transaction is open on them.

        The lockstep returns when the group's offsets are committed, and a transaction's offsets and
        its outputs commit together; but the broker writes the commit markers partition by partition,
        in no set order, so the offsets can be visible a moment before the outputs are. Nothing else
        is written before the next period, so the outputs' end is where no transaction is open
        (bounded by ``timeout_s``, for one left open by a worker that died and is not back)."""
        deadline = time.monotonic() + timeout_s
        while True:
            stable = self.consumer.end_offsets(self.partitions)        # read_committed: last stable offsets
            logged = self._log_ends.end_offsets(self.partitions)
            if all(stable[tp] >= logged[tp] for tp in self.partitions) or time.monotonic() > deadline:
                return stable
            time.sleep(0.02)

    def close(self) -> None:
        self.producer.close()
        self.consumer.close()
        self._log_ends.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_settings(settings: Settings, local_broker: bool = True, progress=print) -> Settings:
    """Settings for a simulation's own worker: own topic prefix and group, lockstep ticks, a free port.

    With ``local_broker`` the project's own broker is started if it is not running.
    """
    if local_broker:
        from pricestream.localkafka import LocalBroker
        broker = LocalBroker(settings)
        broker.start(progress=progress)
        settings = broker.client_settings(settings)       # its address, and its CA in secure mode
    run = uuid.uuid4().hex[:8]
    return settings.replace(topic_prefix=f"{settings.topic_prefix}sim-{run}.", app_id=f"pricestream-sim-{run}",
                            clock_interval_s=0.0, commit_interval_s=0.05, web_port=_free_port())


def worker_log_path(settings: Settings) -> Path:
    return settings.home / "simulate" / f"worker-{settings.app_id}.log"


@contextlib.contextmanager
def kafka_session(settings: Settings, local_broker: bool = True, progress=print) -> Iterator[tuple[KafkaDriver, WorkerProcess]]:
    """A worker of its own (own topics prefix, own group, lockstep ticks) and a driver for it."""
    settings = session_settings(settings, local_broker, progress)
    worker = start_worker(settings, worker_log_path(settings))
    progress(f"worker started (policy {settings.pricing_policy}, topics {settings.topic_prefix}*, "
             f"log {worker.log_path})")
    driver = KafkaDriver(settings)
    try:
        yield driver, worker
    finally:
        driver.close()
        worker.stop()
        end_session(settings)


def end_session(settings: Settings) -> None:
    """A run's topics and worker data are of no use afterwards."""
    reset_topics(settings, app_id=settings.app_id)
    shutil.rmtree(settings.worker_data_dir(), ignore_errors=True)
