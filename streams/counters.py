"""What the worker has done since it started: shown on /status/ and /metrics, and logged periodically.

Counting is plain dict and list increments on the agent's path; ``streams.metrics`` renders them
only when /metrics is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

# seconds from a tick's event time to the decision's send: a live clock's ticks are written when its
# timer fires, up to one interval (60 s by default) after the period end they announce
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


@dataclass
class Histogram:
    """Cumulative-on-render histogram: one bucket increment per observation."""
    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)     # per bucket, not cumulative; the last one is +Inf
    sum: float = 0.0

    def __post_init__(self):
        self.counts = self.counts or [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1       # le: a value on a bound counts in it
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """[(upper bound, observations at or below it)], ending with (inf, count)."""
        out, total = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts):
            total += n
            out.append((bound, total))
        return out


@dataclass
class ForecastErrors:
    """|expected_units - observed_units| of each SKU's forecast, scored when its next period closes."""
    expected: dict[str, float] = field(default_factory=dict)    # SKU -> the forecast of its next period
    count: int = 0
    sum: float = 0.0

    def observe(self, forecast) -> None:
        previous = self.expected.get(forecast.sku)
        if previous is not None:
            self.count += 1
            self.sum += abs(previous - forecast.observed_units)
        self.expected[forecast.sku] = forecast.expected_units


@dataclass
class WorkerCounters:
    consumed: Counter = field(default_factory=Counter)        # by input topic
    emitted: Counter = field(default_factory=Counter)         # by output topic
    dead_letters: Counter = field(default_factory=Counter)    # by error code
    duplicates_ignored: int = 0
    skus_closed: int = 0                                      # SKU decisions taken at ticks
    replays_skipped: int = 0                                  # messages Faust delivered again, already applied
    last_dead_letter: dict | None = None
    decisions: Counter = field(default_factory=Counter)       # by (output topic, policy, first reason)
    decision_latency: Histogram = field(default_factory=Histogram)
    forecast_errors: ForecastErrors = field(default_factory=ForecastErrors)

    def count_dead_letter(self, letter) -> None:
        self.dead_letters[letter.error_code] += 1
        self.last_dead_letter = {"error_code": letter.error_code, "error": letter.error,
                                 "source_topic": letter.source_topic}

    def count_output(self, output, now_s: float) -> None:
        """One output sent at wall time ``now_s``; decisions carry their tick's event time."""
        self.emitted[output.TOPIC] += 1
        if output.TOPIC == "dead-letter":
            return
        if output.TOPIC == "demand-forecasts":
            self.decisions[(output.TOPIC, output.forecast_model, "forecast")] += 1
            self.forecast_errors.observe(output)
        else:
            self.decisions[(output.TOPIC, output.policy, output.reasons[0])] += 1
        self.decision_latency.observe(max(0.0, now_s - output.event_time_ms / 1000))

    def snapshot(self) -> dict:
        return {
            "consumed": dict(self.consumed), "consumed_total": sum(self.consumed.values()),
            "emitted": dict(self.emitted),
            "dead_letters": dict(self.dead_letters), "dead_letters_total": sum(self.dead_letters.values()),
            "duplicates_ignored": self.duplicates_ignored, "skus_closed": self.skus_closed,
            "replays_skipped": self.replays_skipped,
            "last_dead_letter": self.last_dead_letter,
        }

    def log_line(self) -> str:
        s = self.snapshot()
        return (f"consumed={s['consumed_total']} price_changes={s['emitted'].get('price-changes', 0)} "
                f"restock_orders={s['emitted'].get('restock-orders', 0)} dead_letters={s['dead_letters_total']} "
                f"duplicates_ignored={s['duplicates_ignored']} ticks={s['consumed'].get('clock', 0)}")
