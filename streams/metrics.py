"""The worker's Prometheus metrics (``/metrics``), in the text exposition format.

Nothing here runs per event: the agent only increments the plain counters of
``streams.counters.WorkerCounters``; this module turns them into metric families when Prometheus
scrapes, with ``prometheus_client``'s custom-collector API on a registry of the worker's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, SummaryMetricFamily,
)

from schemas.codec import ERROR_CODES
from schemas.topics import INPUT_TOPICS
from streams.counters import WorkerCounters

# the classic text format: every Prometheus reads it, and our names need none of 1.0.0's UTF-8 quoting
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# every family the worker exports (a counter's samples end in _total, a histogram's in _bucket, ...)
METRIC_FAMILIES = (
    "pricestream_events_consumed_total",
    "pricestream_dead_letters_total",
    "pricestream_decisions_total",
    "pricestream_decision_latency_seconds",
    "pricestream_forecast_abs_error",
    "pricestream_consumer_lag",
    "pricestream_table_keys",
)

Lag = Mapping[tuple[str, int], int]       # (contract topic name, partition) -> messages not yet committed


@dataclass
class Sources:
    """Where a scrape reads the worker's numbers; callables so each scrape reads them anew."""
    counters: WorkerCounters
    lag: Callable[[], Lag] = dict
    table_keys: Callable[[], Mapping[str, int]] = dict      # table name -> keys held by this worker


class WorkerCollector:
    """A ``prometheus_client`` collector over the worker's counters."""

    def __init__(self, sources: Sources):
        self.sources = sources

    def collect(self) -> Iterable:
        c = self.sources.counters
        consumed = CounterMetricFamily("pricestream_events_consumed_total",
                                       "Input messages handed to the agent, by input topic.", labels=["topic"])
        for topic in sorted(set(INPUT_TOPICS) | set(c.consumed)):
            consumed.add_metric([topic], c.consumed.get(topic, 0))
        yield consumed

        letters = CounterMetricFamily("pricestream_dead_letters_total",
                                      "Dead letters written, by error code.", labels=["reason"])
        for code in sorted(set(ERROR_CODES) | set(c.dead_letters)):
            letters.add_metric([code], c.dead_letters.get(code, 0))
        yield letters

        decisions = CounterMetricFamily(
            "pricestream_decisions_total",
            "Decisions sent, by output topic, policy (a forecast's: its views model) and first reason code.",
            labels=["topic", "policy", "reason"])
        for (topic, policy, reason), n in sorted(c.decisions.items()):
            decisions.add_metric([topic, policy, reason], n)
        yield decisions

        h = c.decision_latency
        latency = HistogramMetricFamily(
            "pricestream_decision_latency_seconds",
            "Wall time from a tick's event time (the period end) to sending a decision made at it.")
        latency.add_metric([], [(_le(bound), n) for bound, n in h.cumulative()], sum_value=h.sum)
        yield latency

        f = c.forecast_errors
        errors = SummaryMetricFamily(
            "pricestream_forecast_abs_error",
            "|expected_units - observed_units|: each SKU's units forecast against the period it forecast.")
        errors.add_metric([], count_value=f.count, sum_value=f.sum)
        yield errors

        lag = GaugeMetricFamily(
            "pricestream_consumer_lag",
            "Messages not yet committed by the worker: the partition's end (last stable offset under "
            "exactly_once) at the latest fetch minus the committed offset, per assigned input partition.",
            labels=["topic", "partition"])
        for (topic, partition), n in sorted(self.sources.lag().items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag

        keys = GaugeMetricFamily("pricestream_table_keys", "Keys in the state tables held by this worker.",
                                 labels=["table"])
        for table, n in sorted(self.sources.table_keys().items()):
            keys.add_metric([table], n)
        yield keys


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def registry_for(sources: Sources, process: bool = True) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(sources))
    if process:
        ProcessCollector(registry=registry)       # process_cpu_seconds_total, process_resident_memory_bytes...
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def consumer_lag(end_offsets: Mapping, committed: Mapping, assignment: Iterable, prefix: str) -> dict:
    """Lag per assigned input partition from Faust's monitor: end offset minus committed offset.

    Both are the next offset (exclusive); a partition is left out until the worker has both fetched
    from it and committed it (so a worker that has read nothing since it started reports no lag for it).

    >>> from faust.types import TP
    >>> consumer_lag({TP("p.clock", 0): 10, TP("p.clicks", 1): 5, TP("p.price-changes", 0): 3},
    ...              {TP("p.clock", 0): 7, TP("p.price-changes", 0): 1},
    ...              [TP("p.clock", 0), TP("p.clicks", 1), TP("p.price-changes", 0)], "p.")
    {('clock', 0): 3}
    """
    lag = {}
    for tp in assignment:
        topic = tp.topic.removeprefix(prefix)
        end, done = end_offsets.get(tp), committed.get(tp)
        if topic in INPUT_TOPICS and end is not None and done is not None:
            lag[(topic, tp.partition)] = max(0, end - done)
    return lag


def worker_sources(worker) -> Sources:
    """The live worker's sources: its counters, Faust's monitor and consumer, its table."""
    app, prefix = worker.app, worker.settings.topic_prefix

    def lag() -> Lag:
        try:
            assignment = app.consumer.assignment()
        except Exception:            # no consumer yet (starting) or it is being rebuilt (rebalance)
            return {}
        return consumer_lag(app.monitor.tp_end_offsets, app.monitor.tp_committed_offsets, assignment, prefix)

    def table_keys() -> dict[str, int]:
        table = worker.tables.sku_state
        return {table.name: len(table)}

    return Sources(counters=worker.counters, lag=lag, table_keys=table_keys)

