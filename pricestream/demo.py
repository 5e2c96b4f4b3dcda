"""``pricestream demo``: the project's local broker, a worker and the market simulator, live.

The ``standard`` scenario runs through Kafka in lockstep (``simulate --kafka``): each decision is
printed as the worker makes it, a few malformed events show the dead-letter path, and the report
against the clairvoyant oracle comes at the end.
"""

from __future__ import annotations

import json
import sys
import time

from pricestream.settings import Settings
from pricestream.simulator.kafka_shell import KafkaDriver, kafka_session
from pricestream.simulator.report import format_report
from pricestream.simulator.run import simulate
from pricestream.simulator.scenario import DAY_MS, load_scenario

def bad_events(now_ms: int) -> list[tuple[str, bytes, bytes]]:
    """One of each kind of mistake, stamped with the period's time (an event years away is a mistake of
    its own: event-time-out-of-range)."""
    return [
        ("clicks", b"STD-001", b"{not json"),
        ("orders", b"STD-002", b'{"schema_version":1,"event_id":"bad-1","order_id":"o","sku":"STD-002",'
                               b'"event_time_ms":%d,"quantity":1,"unit_price":-5}' % now_ms),
        ("competitor-prices", b"NO-SUCH-SKU", b'{"schema_version":1,"event_id":"bad-2","sku":"NO-SUCH-SKU",'
                                              b'"event_time_ms":%d,"competitor":"x","price":9.5,"in_stock":true}'
                                              % now_ms),
    ]


class DemoDriver:
    """The Kafka driver, plus a handful of bad events in one period to show the dead-letter path."""

    def __init__(self, driver: KafkaDriver, bad_at_period: int):
        self.driver = driver
        self.bad_at_period = bad_at_period
        self.period = -1

    @property
    def dead_letters(self):
        return self.driver.dead_letters

    def run_period(self, events: list, tick_time_ms: int):
        self.period += 1
        if self.period == self.bad_at_period:
            for topic, key, value in bad_events(tick_time_ms - 1):
                self.driver.producer.send_raw(topic, key, value)
        before = len(self.driver.dead_letters)
        decisions = self.driver.run_period(events, tick_time_ms)
        for raw in self.driver.dead_letters[before:]:
            letter = json.loads(raw)
            print(f"[dead letter] {letter['source_topic']}[{letter['partition']}]@{letter['offset']}: "
                  f"{letter['error_code']}: {letter['error'][:80]}", flush=True)
        return decisions


def run_demo(settings: Settings, days: float, seed: int | None, external: bool) -> int:
    scenario = load_scenario("standard")
    scenario = load_scenario("standard", periods=max(1, round(days * 24 * 60 / scenario.period_minutes)))
    start = scenario.start_time_ms
    print(f"pricestream demo: scenario {scenario.name}, {len(scenario.skus)} SKUs, {days:g} days "
          f"({scenario.periods} periods), policy {settings.pricing_policy}; Ctrl-C stops it", flush=True)

    quiet_moves = [0]

    def show(topic: str, e: dict) -> None:
        # forecasts come every tick, and a learning policy nudges prices every tick: print what a
        # person watching would want to see, count the rest
        if topic == "restock-orders" or (topic == "price-changes" and notable(e)):
            print(describe(topic, e, start), flush=True)
        elif topic == "price-changes":
            quiet_moves[0] += 1

    def progress(done: int, total: int, elapsed: float) -> None:
        if done % 24 == 0 or done == total:
            print(f"-- day {done * scenario.period_minutes / 1440:.0f} of {days:g} ({elapsed:.0f} s); "
                  f"{quiet_moves[0]} smaller price moves not shown", flush=True)
            quiet_moves[0] = 0

    began = time.monotonic()
    with kafka_session(settings, local_broker=not external, progress=print) as (driver, worker):
        demo = DemoDriver(driver, bad_at_period=min(5, scenario.periods - 1))
        result = simulate(scenario, demo, seed, progress=progress, on_decision=show)
        status = worker.status()
    print()
    print(format_report(result.report, settings.pricing_policy))
    print(f"\nworker: consumed {status['consumed_total']} events, {status['dead_letters_total']} dead letters "
          f"{status['dead_letters']}; {time.monotonic() - began:.0f} s in all", file=sys.stdout)
    return 0


NOTABLE_MOVE = 0.05          # a price move of 5 % or more is printed; smaller ones are counted


def notable(change: dict) -> bool:
    """A first price, a move of 5 % or more, or one a stock, competitor or guardrail rule shaped."""
    if change["old_price"] is None:
        return True
    big = abs(change["new_price"] / change["old_price"] - 1) >= NOTABLE_MOVE
    return big or any(r not in ("demand-optimal", "exploration") for r in change["reasons"])


def describe(topic: str, e: dict, start_ms: int) -> str:
    elapsed = e["event_time_ms"] - start_ms
    when = f"day {elapsed // DAY_MS + 1:>2} {(elapsed % DAY_MS) // 3_600_000:02d}:00"
    if topic == "price-changes":
        old = "  new" if e["old_price"] is None else f"{e['old_price']:7.2f}"
        return f"[{when}] PRICE    {e['sku']}  {old} -> {e['new_price']:7.2f}  {', '.join(e['reasons'])}"
    return (f"[{when}] RESTOCK  {e['sku']}  {e['quantity']:>4} units  position {e['inventory_position']:.0f}"
            f" <= reorder point {e['reorder_point']:.0f}")
