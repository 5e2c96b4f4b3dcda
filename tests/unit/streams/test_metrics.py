"""The worker's /metrics: what the agent counts per output, and the text Prometheus reads on a scrape."""

import math

import pytest
from faust.types import TP
from prometheus_client.parser import text_string_to_metric_families

from schemas.codec import ERROR_CODES
from schemas.records import DeadLetter, DemandForecast, PriceChange, RestockOrder
from schemas.topics import INPUT_TOPICS
from streams.counters import LATENCY_BUCKETS, ForecastErrors, Histogram, WorkerCounters
from streams.metrics import METRIC_FAMILIES, Sources, consumer_lag, registry_for, render

TICK_MS = 1_700_000_000_000


def price_change(sku="S1", reasons=("competitor-undercut", "clamped:max-step"), policy="competitor-match"):
    return PriceChange(1, f"pc-{sku}", sku, TICK_MS, policy, 20.0, 19.0, list(reasons), {}, "clock", "t")


def restock(sku="S1"):
    return RestockOrder(1, f"ro-{sku}", f"r-{sku}", sku, TICK_MS, "fixed-reorder", 15, 5.0, 20.0, None, 5.0, 5.0,
                        0.0, 3.0, 0.95, "fill-rate", ["below-reorder-point"])


def forecast(sku="S1", observed=3, expected=2.5, t=TICK_MS):
    return DemandForecast(1, f"df-{sku}-{t}", sku, t, 40, observed, 20.0, None, 30.0, expected, 1.0, -2.0, 0.5,
                          0.1, "seasonal")


def dead_letter():
    return DeadLetter(1, "dl", "clicks", 0, 7, "S1", "malformed-json", "bad", "{", "utf-8", 1, False, None)


def scrape(counters, lag=dict, table_keys=dict) -> dict:
    """The exposition text parsed back: {(sample name, sorted labels): value}."""
    text = render(registry_for(Sources(counters, lag=lag, table_keys=table_keys), process=False)).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_histogram_counts_a_value_on_a_bound_in_that_bucket_and_renders_cumulative():
    h = Histogram(bounds=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(v)
    assert h.cumulative() == [(0.1, 2), (1.0, 4), (math.inf, 5)]
    assert (h.count, h.sum) == (5, pytest.approx(8.65))


def test_a_forecast_is_scored_against_the_units_of_the_period_it_forecast_per_sku():
    errors = ForecastErrors()
    errors.observe(forecast("A", observed=9, expected=2.0))      # nothing to score yet
    errors.observe(forecast("B", observed=9, expected=5.0))
    errors.observe(forecast("A", observed=3, expected=4.0))      # A forecast 2.0, sold 3
    errors.observe(forecast("B", observed=1, expected=0.0))      # B forecast 5.0, sold 1
    errors.observe(forecast("A", observed=4, expected=1.0))      # A forecast 4.0, sold 4
    assert (errors.count, errors.sum) == (3, 5.0)


def test_each_output_counts_as_a_decision_by_topic_policy_and_first_reason_with_its_latency():
    c = WorkerCounters()
    now = TICK_MS / 1000 + 0.3
    for output in (price_change(), price_change("S2"), restock(), forecast(), dead_letter()):
        c.count_output(output, now)
    assert c.decisions == {("price-changes", "competitor-match", "competitor-undercut"): 2,
                           ("restock-orders", "fixed-reorder", "below-reorder-point"): 1,
                           ("demand-forecasts", "seasonal", "forecast"): 1}
    assert c.emitted == {"price-changes": 2, "restock-orders": 1, "demand-forecasts": 1, "dead-letter": 1}
    assert c.decision_latency.count == 4 and c.decision_latency.sum == pytest.approx(1.2)
    c.count_output(price_change(), TICK_MS / 1000 - 5)          # a tick from the future: not negative
    assert c.decision_latency.cumulative()[0] == (LATENCY_BUCKETS[0], 1)


def test_the_rendered_text_carries_every_family_with_its_labels_and_values():
    c = WorkerCounters()
    c.consumed.update({"clicks": 5, "clock": 4})
    c.dead_letters.update({"malformed-json": 2})
    for output in (price_change(), restock(), forecast(observed=0, expected=2.0), forecast(observed=3)):
        c.count_output(output, TICK_MS / 1000 + 0.2)
    samples = scrape(c, lag=lambda: {("clicks", 0): 3, ("clock", 1): 0}, table_keys=lambda: {"sku-state": 42})

    assert samples[("pricestream_events_consumed_total", (("topic", "clicks"),))] == 5
    # every input topic and error code is there from the start, at zero, so rate() sees the first one
    for topic in INPUT_TOPICS:
        assert ("pricestream_events_consumed_total", (("topic", topic),)) in samples
    assert {k[1][0][1] for k in samples if k[0] == "pricestream_dead_letters_total"} == set(ERROR_CODES)
    assert samples[("pricestream_dead_letters_total", (("reason", "malformed-json"),))] == 2
    assert samples[("pricestream_decisions_total", (("policy", "competitor-match"), ("reason", "competitor-undercut"),
                                                    ("topic", "price-changes")))] == 1
    assert samples[("pricestream_decisions_total", (("policy", "seasonal"), ("reason", "forecast"),
                                                    ("topic", "demand-forecasts")))] == 2
    assert samples[("pricestream_decision_latency_seconds_count", ())] == 4
    assert samples[("pricestream_decision_latency_seconds_bucket", (("le", "0.1"),))] == 0
    assert samples[("pricestream_decision_latency_seconds_bucket", (("le", "0.25"),))] == 4
    assert samples[("pricestream_decision_latency_seconds_bucket", (("le", "+Inf"),))] == 4
    assert samples[("pricestream_decision_latency_seconds_sum", ())] == pytest.approx(0.8)
    assert samples[("pricestream_forecast_abs_error_count", ())] == 1      # the second forecast of S1
    assert samples[("pricestream_forecast_abs_error_sum", ())] == 1.0      # forecast 2.0, sold 3
    assert samples[("pricestream_consumer_lag", (("partition", "0"), ("topic", "clicks")))] == 3
    assert samples[("pricestream_table_keys", (("table", "sku-state"),))] == 42
    for family in METRIC_FAMILIES:
        assert any(name.startswith(family.removesuffix("_total")) for name, _ in samples), family


def test_a_fresh_worker_renders_zeros_and_no_lag_rather_than_failing():
    samples = scrape(WorkerCounters())
    assert samples[("pricestream_decision_latency_seconds_count", ())] == 0
    assert not any(name == "pricestream_consumer_lag" for name, _ in samples)


def test_the_process_metrics_come_along():
    text = render(registry_for(Sources(WorkerCounters()))).decode()
    assert "process_cpu_seconds_total" in text and "pricestream_table_keys" in text


def test_lag_is_end_minus_committed_for_assigned_input_partitions_with_both_known():
    p = "t1."
    ends = {TP(p + "clicks", 0): 10, TP(p + "clicks", 1): 4, TP(p + "orders", 0): 8, TP(p + "clock", 2): 3,
            TP("pricestream-sku-state-changelog", 0): 99}
    committed = {TP(p + "clicks", 0): 10, TP(p + "clicks", 1): 1, TP(p + "clock", 2): 3,
                 TP("pricestream-sku-state-changelog", 0): 50, TP(p + "orders", 3): 1}
    assignment = {TP(p + "clicks", 0), TP(p + "clicks", 1), TP(p + "orders", 0), TP(p + "clock", 2),
                  TP("pricestream-sku-state-changelog", 0)}
    assert consumer_lag(ends, committed, assignment, p) == {("clicks", 0): 0, ("clicks", 1): 3, ("clock", 2): 0}
    # a revoked partition is not reported, whatever the monitor still remembers of it
    assert consumer_lag(ends, committed, assignment - {TP(p + "clicks", 1)}, p) == {("clicks", 0): 0, ("clock", 2): 0}
