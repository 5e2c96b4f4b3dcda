"""Closed-loop simulation: the market plays a period, the engine decides at its tick, the market reacts.

Two shells drive the same engine code:

- ``OfflineDriver``: in process, through ``pricestream.domain.intake.handle`` (the worker's own path,
  bytes and all), with a dict as the state store. No Kafka.
- ``KafkaDriver``: the events go to a real broker, a ``pricestream worker`` decides, and the decisions
  are read back from ``price-changes`` and ``restock-orders`` (read_committed), in lockstep.

For the same scenario, seed and policy both give the same decisions, byte for byte.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from kafka.partitioner.default import murmur2

from pricestream.domain.engine import Engine, EngineConfig
from pricestream.domain.intake import DictStore, Message, handle
from pricestream.domain.ticks import ticks_for
from pricestream.simulator.market import Market
from pricestream.simulator.report import build_report
from pricestream.simulator.scenario import Scenario
from schemas.codec import encode
from schemas.topics import BROADCAST_TOPICS

DECISION_TOPICS = ("price-changes", "restock-orders", "demand-forecasts")


class Driver(Protocol):
    def run_period(self, events: list, tick_time_ms: int) -> list[tuple[str, bytes]]:
        """Hand the period's events to the engine, tick, and return the decisions as (topic, JSON bytes)."""


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2), so both shells shard alike."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class OfflineDriver:
    def __init__(self, config: EngineConfig, partitions: int = 12, max_payload_bytes: int = 65536):
        self.engine = Engine(config)
        self.store = DictStore()
        self.partitions = partitions
        self.max_payload_bytes = max_payload_bytes
        self.offsets: dict[tuple[str, int], int] = {}
        self.dead_letters: list = []

    def _handle(self, topic: str, partition: int, key: bytes, value: bytes) -> list:
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        return handle(self.engine, Message(topic, partition, offset, key, value), self.store,
                      self.max_payload_bytes).outputs

    def run_period(self, events: list, tick_time_ms: int) -> list[tuple[str, bytes]]:
        decisions = []
        for record in events:
            if record.TOPIC in BROADCAST_TOPICS:       # a calendar entry: every partition gets its copy
                key = record.calendar_id.encode()
                for partition in range(self.partitions):
                    self.dead_letters += self._handle(record.TOPIC, partition, key, encode(record))
                continue
            key = record.sku.encode()
            self.dead_letters += self._handle(record.TOPIC, kafka_partition(key, self.partitions), key, encode(record))
        for tick in ticks_for(tick_time_ms, self.partitions):
            for out in self._handle(tick.TOPIC, tick.partition, str(tick.partition).encode(), encode(tick)):
                (self.dead_letters if out.TOPIC == "dead-letter" else decisions).append(out)
        return [(o.TOPIC, encode(o)) for o in decisions]

    def close(self) -> None:
        pass


@dataclass
class SimulationResult:
    report: dict
    decisions: list[tuple[str, bytes]] = field(default_factory=list)   # in the order the market applied them
    dead_letters: int = 0
    market: Market | None = field(default=None, compare=False, repr=False)   # its books: the report's plots


def simulate(scenario: Scenario, driver: Driver, seed: int | None = None,
             progress: Callable[[int, int, float], None] | None = None,
             on_decision: Callable[[str, dict], None] | None = None,
             on_input: Callable[[object], None] | None = None, publish_calendar: bool = True,
             segmented: bool = True) -> SimulationResult:
    """Run the scenario's whole horizon through ``driver``; returns the report and every decision.
    ``on_decision`` sees each decision as the market applies it, ``on_input`` each event sent;
    ``publish_calendar=False`` keeps the scenario's calendar from the engine (its peaks still happen);
    ``segmented=False`` keeps its segments out of the catalogue (one price per SKU; they still buy apart)."""
    market = Market(scenario, seed, publish_calendar, segmented)
    all_decisions: list[tuple[str, bytes]] = []
    started = time.monotonic()

    def decide(events: list, tick_time: int) -> None:
        if on_input:
            for event in events:
                on_input(event)
        decisions = driver.run_period(events, tick_time)
        # per SKU the order is the engine's; across SKUs sort, so both shells apply them alike
        decisions.sort(key=lambda d: (json.loads(d[1])["sku"], DECISION_TOPICS.index(d[0])))
        for topic, raw in decisions:
            event = json.loads(raw)
            market.apply_decision(topic, event)
            if on_decision:
                on_decision(topic, event)
        all_decisions.extend(decisions)

    decide(market.opening_events(), scenario.start_time_ms)
    for t in range(scenario.periods):
        events = market.period_events(t)
        decide(events, scenario.period_start(t + 1))
        if progress:
            progress(t + 1, scenario.periods, time.monotonic() - started)
    market.finish()
    dead = len(getattr(driver, "dead_letters", []))
    return SimulationResult(report=build_report(scenario, market, seed), decisions=all_decisions, dead_letters=dead,
                            market=market)


def progress_printer(stream=sys.stderr, every_s: float = 1.0) -> Callable[[int, int, float], None]:
    """A one-line progress display: period, share done, elapsed and estimated time left."""
    last = {"at": -every_s}

    def show(done: int, total: int, elapsed: float) -> None:
        if elapsed - last["at"] < every_s and done != total:
            return
        last["at"] = elapsed
        left = elapsed / done * (total - done) if done else 0.0
        stream.write(f"\r  period {done}/{total} ({100 * done / total:3.0f}%)  {elapsed:5.1f} s elapsed, "
                     f"~{left:4.0f} s left ")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show
