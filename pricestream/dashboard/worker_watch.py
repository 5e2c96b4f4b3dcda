"""The worker's own numbers for the dashboard: throughput and consumer lag from its ``/metrics``,
readiness from its ``/status/``, polled every few seconds."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

SAMPLES_KEPT = 300            # at one sample per 2 s: the last ten minutes


def metric_totals(text: str) -> dict:
    """The figures the dashboard shows, from the worker's Prometheus text.

    >>> text = '''pricestream_events_consumed_total{topic="orders"} 3
    ... pricestream_events_consumed_total{topic="clock"} 4
    ... pricestream_decisions_total{topic="price-changes",policy="static",reason="list-price"} 2
    ... pricestream_dead_letters_total{reason="malformed-json"} 1
    ... pricestream_consumer_lag{topic="orders",partition="0"} 5
    ... pricestream_consumer_lag{topic="orders",partition="1"} 2
    ... '''
    >>> metric_totals(text)
    {'consumed': 7.0, 'decisions': 2.0, 'dead_letters': 1.0, 'lag': 7.0, 'lag_by_topic': {'orders': 7.0}}
    """
    totals = {"consumed": 0.0, "decisions": 0.0, "dead_letters": 0.0, "lag": 0.0, "lag_by_topic": {}}
    names = {"pricestream_events_consumed_total": "consumed", "pricestream_decisions_total": "decisions",
             "pricestream_dead_letters_total": "dead_letters"}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names:
                totals[names[sample.name]] += sample.value
            elif sample.name == "pricestream_consumer_lag":
                totals["lag"] += sample.value
                topic = sample.labels.get("topic", "?")
                totals["lag_by_topic"][topic] = totals["lag_by_topic"].get(topic, 0.0) + sample.value
    return totals


def shown_url(url: str) -> str:
    """``url`` without a password it may carry, for the page and the log.

    >>> shown_url("http://ops:hunter2@worker-1:6066")
    'http://ops@worker-1:6066'
    """
    from yarl import URL

    return str(URL(url).with_password(None))


def _rate(now: float, before: float | None, dt: float) -> float | None:
    if before is None or dt <= 0 or now < before:       # first sample, or the worker restarted (counters reset)
        return None
    return (now - before) / dt


@dataclass
class WorkerWatch:
    url: str                                  # the worker's web root, e.g. http://127.0.0.1:6066
    samples: deque = field(default_factory=lambda: deque(maxlen=SAMPLES_KEPT))
    latest: dict = field(default_factory=dict)
    _previous: tuple[float, dict] | None = None

    def observe(self, now_s: float, metrics_text: str | None, status: dict | None, error: str | None = None,
                dashboard_read: int = 0) -> dict:
        """Record one poll (``metrics_text`` None: the worker did not answer); returns the new sample."""
        sample = {"t": int(now_s * 1000), "events_per_s": None, "decisions_per_s": None, "lag": None,
                  "dashboard_read_per_s": None}
        previous_time, previous = self._previous or (None, {})
        dt = now_s - previous_time if previous_time is not None else 0.0
        sample["dashboard_read_per_s"] = _rate(dashboard_read, previous.get("dashboard_read"), dt)
        figures: dict = {"dashboard_read": dashboard_read}
        if metrics_text is not None:
            totals = metric_totals(metrics_text)
            figures.update(totals)
            sample["events_per_s"] = _rate(totals["consumed"], previous.get("consumed"), dt)
            sample["decisions_per_s"] = _rate(totals["decisions"], previous.get("decisions"), dt)
            sample["lag"] = totals["lag"]
        self._previous = (now_s, figures)
        self.samples.append(sample)
        self.latest = {
            "url": shown_url(self.url), "reachable": metrics_text is not None, "error": error,
            "ready": None if status is None else bool(status.get("ready")),
            "pricing_policy": None if status is None else status.get("pricing_policy"),
            "restock_policy": None if status is None else status.get("restock_policy"),
            "consumed_total": figures.get("consumed"), "decisions_total": figures.get("decisions"),
            "lag_by_topic": figures.get("lag_by_topic", {}), **{k: sample[k] for k in sample if k != "t"},
        }
        return sample

    async def poll(self, session, dashboard_read: int = 0) -> dict:
        """One poll of the worker with an aiohttp ``session``; never raises for an absent worker."""
        import aiohttp

        text, status, error = None, None, None
        try:
            async with session.get(f"{self.url}/metrics") as response:
                response.raise_for_status()
                text = await response.text()
            async with session.get(f"{self.url}/status/") as response:
                response.raise_for_status()
                status = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = f"{type(exc).__name__}"
        return self.observe(time.time(), text, status, error, dashboard_read)
