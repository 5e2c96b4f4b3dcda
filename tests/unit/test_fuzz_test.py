"""The fuzzer's hostile events, through the engine in process: each is built to get one error code, and
gets it; retries are ignored; the valid events decide as they would alone. (The same on the real broker
and worker: tests/e2e/test_fuzz.py.)"""

from __future__ import annotations

import dataclasses
from collections import Counter

from pricestream.domain.intake import Message, handle
from pricestream.domain.ticks import ticks_for
from pricestream.fuzz_test import (
    CATEGORIES, RETRY_PERIODS, RETRYABLE, BadEvent, PeriodContext, check_dead_letters, draw_recipes, interleave,
)
from pricestream.settings import Settings
from pricestream.simulator.run import OfflineDriver, kafka_partition, simulate
from pricestream.simulator.scenario import load_scenario
from schemas.codec import encode
from streams.app import engine_config


class FuzzingOfflineDriver(OfflineDriver):
    """The offline shell with the fuzzer's bad events among each period's valid ones."""

    def __init__(self, settings: Settings, recipes, periods: int):
        super().__init__(engine_config(settings), settings.partitions, settings.max_payload_bytes)
        self.by_period: dict[int, list] = {}
        for r in recipes:
            self.by_period.setdefault(1 + int(r.period_u * periods), []).append(r)
        self.period, self.skus, self.last_tick_ms, self.carried, self.recent, self.serial = 0, [], None, [], [], 0
        self.expected: dict[tuple[str, int, int], BadEvent] = {}
        self.letters: list[bytes] = []
        self.duplicates_ignored = 0

    def _send(self, topic: str, partition: int, key, value):
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        handled = handle(self.engine, Message(topic, partition, offset, key, value), self.store, self.max_payload_bytes)
        self.duplicates_ignored += handled.duplicate
        return (topic, partition, offset), handled.outputs

    def run_period(self, events: list, tick_time_ms: int):
        self.skus = self.skus or sorted({e.sku for e in events if e.TOPIC == "catalog"})
        recipes, placed = self.carried + self.by_period.get(self.period, []), list(events)
        if self.last_tick_ms is not None:
            ctx = PeriodContext(events, self.skus, self.last_tick_ms, self.partitions, self.serial,
                                [e for p in self.recent for e in p])
            placed, self.carried = interleave(events, recipes, ctx)
            self.serial = ctx.serial
        self.recent = [*self.recent[1 - RETRY_PERIODS:], [e for e in events if e.TOPIC in RETRYABLE]]
        decisions = []
        for item in placed:
            if isinstance(item, BadEvent):
                partition = item.partition if item.partition is not None else \
                    kafka_partition(item.key, self.partitions) if item.key else 0
                place, outputs = self._send(item.topic, partition, item.key, item.value)
                self.expected[place] = item
            else:
                key = item.sku.encode()
                _, outputs = self._send(item.TOPIC, kafka_partition(key, self.partitions), key, encode(item))
            self.letters += [encode(o) for o in outputs]
        for tick in ticks_for(tick_time_ms, self.partitions):
            for out in self._send(tick.TOPIC, tick.partition, str(tick.partition).encode(), encode(tick))[1]:
                (self.letters.append(encode(out)) if out.TOPIC == "dead-letter" else decisions.append(out))
        self.period += 1
        self.last_tick_ms = tick_time_ms
        return [(o.TOPIC, encode(o)) for o in decisions]


def test_the_draws_are_the_same_for_the_same_seed_and_cover_every_category():
    first = draw_recipes(600, seed=7)
    assert first == draw_recipes(600, seed=7) and first != draw_recipes(600, seed=8)
    assert set(Counter(r.category for r in first)) == set(CATEGORIES)


def test_every_bad_event_gets_its_error_code_and_the_valid_events_decide_as_they_would_alone():
    scenario = load_scenario("standard", periods=12)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:3])
    settings = Settings.from_env({}).replace(partitions=4, pricing_policy="learned", restock_policy="learned")
    alone = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), scenario.seed)
    driver = FuzzingOfflineDriver(settings, draw_recipes(800, seed=2), scenario.periods)
    fuzzed = simulate(scenario, driver, scenario.seed)

    assert driver.carried == [] and len(driver.expected) == 800
    letters = check_dead_letters(driver.expected, driver.letters)
    assert {k: letters[k] for k in ("missing", "unexpected", "repeated", "wrong_code")} == \
        {"missing": 0, "unexpected": 0, "repeated": 0, "wrong_code": 0}, letters["samples"]
    retries = sum(b.expected is None for b in driver.expected.values())
    assert len(driver.letters) == 800 - retries and driver.duplicates_ignored == retries > 0
    assert len({b.expected for b in driver.expected.values()}) >= 15      # the codes, not one code many times
    assert fuzzed.decisions == alone.decisions and len(alone.decisions) > 50
