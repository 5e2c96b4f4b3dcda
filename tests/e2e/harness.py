"""Running the real worker against the real local broker, for end-to-end tests."""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaConsumer

from pricestream.kafka_clients import connection
from pricestream.lockstep import LockstepProducer
from pricestream.settings import Settings
from pricestream.worker_process import WorkerProcess
from pricestream.worker_process import start_worker as start_process
from schemas.topics import OUTPUT_TOPICS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_settings(base: Settings, **changes) -> Settings:
    """Settings with their own topics and consumer group on the shared test broker."""
    tag = uuid.uuid4().hex[:8]
    return base.replace(topic_prefix=f"t{tag}.", app_id=f"pricestream-test-{tag}", web_port=free_port(),
                        status_interval_s=1.0, clock_interval_s=0.0, commit_interval_s=0.1, **changes)


def start_worker(settings: Settings, log_dir: Path, timeout_s: float = 90) -> WorkerProcess:
    return start_process(settings, log_dir / f"worker-{settings.app_id}.log", timeout_s)


@dataclass
class Outputs:
    """Reads the committed output topics, accumulating what it has seen."""
    settings: Settings
    seen: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in OUTPUT_TOPICS})

    def __post_init__(self):
        self._consumer = KafkaConsumer(
            *(self.settings.topic(t) for t in OUTPUT_TOPICS), **connection(self.settings),
            isolation_level="read_committed", auto_offset_reset="earliest", group_id=None)

    def wait_for(self, predicate, timeout_s: float = 60, worker: WorkerProcess | None = None) -> dict:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.seen):
            if time.monotonic() > deadline:
                log = worker.log()[-4000:] if worker else ""
                counts = {t: len(v) for t, v in self.seen.items()}
                raise TimeoutError(f"outputs not reached in {timeout_s}s; seen {counts}\n{log}")
            for batch in self._consumer.poll(timeout_ms=200).values():
                for msg in batch:
                    topic = msg.topic.removeprefix(self.settings.topic_prefix)
                    self.seen[topic].append(json.loads(msg.value))
        return self.seen

    def wait_for_counts(self, timeout_s: float = 60, worker=None, **counts) -> dict:
        wanted = {k.replace("_", "-"): v for k, v in counts.items()}
        return self.wait_for(lambda s: all(len(s[t]) >= n for t, n in wanted.items()), timeout_s, worker)

    def close(self):
        self._consumer.close()


def Producer(settings: Settings) -> LockstepProducer:
    """The tests' producer: records what it sent, for the offline replay."""
    return LockstepProducer(settings, record_sent=True)


def offline_replay(settings: Settings, sent) -> list:
    """Every message a test wrote, through the same domain code in process: what the worker must emit."""
    from pricestream.domain.engine import Engine
    from pricestream.domain.intake import DictStore, Message, handle
    from streams.app import engine_config

    engine, store, out = Engine(engine_config(settings)), DictStore(), []
    for m in sent:
        out += handle(engine, Message(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp_ms), store,
                      settings.max_payload_bytes).outputs
    return out
