"""deploy/: the Grafana dashboard asks only for metrics the worker exports; Prometheus scrapes the worker.

Neither Grafana nor Prometheus runs where these tests run, so the files are checked as data: every
PromQL expression of the dashboard is parsed for the metric names it selects, and each must be a
sample name that ``/metrics`` renders (a counter's ``_total``, a histogram's ``_bucket``...).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pricestream.settings import Settings
from schemas.records import DemandForecast, PriceChange
from streams.counters import WorkerCounters
from streams.metrics import Sources, registry_for, render

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "pricestream.json"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"

# PromQL words that are not metric names (functions and aggregations are recognised by their "(")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
            "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects.

    >>> sorted(metric_names('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y(z)"}[5m]))) / on(i) b > 0'))
    ['a_bucket', 'b']
    >>> metric_names('label_values(d{job=~"$job"}, instance)')
    {'d'}
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                  # strings: label values, regexes
    text = re.sub(r"\{[^}]*\}", "", text)                             # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                            # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", text):
        if match.group() in KEYWORDS or text[match.end():].lstrip().startswith("("):
            continue
        names.add(match.group())
    return names - {"job", "instance"}          # label_values(metric, label): the label is no metric


def exported_sample_names() -> set[str]:
    """What /metrics renders, with every family populated."""
    counters = WorkerCounters()
    counters.consumed["clicks"] += 1
    counters.dead_letters["malformed-json"] += 1
    for t in (1000, 2000):
        forecast = DemandForecast(1, f"f{t}", "S", t, 1, 1, 10.0, None, 1.0, 1.0, 0.5, -2.0, 0.5, 0.0, "seasonal")
        counters.count_output(forecast, 3.0)
    counters.count_output(PriceChange(1, "p", "S", 1000, "static", None, 10.0, ["list-price"], {}, "catalog", "c"), 3.0)
    sources = Sources(counters, lag=lambda: {("clicks", 0): 1}, table_keys=lambda: {"sku-state": 1})
    text = render(registry_for(sources)).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def expressions(dashboard: dict):
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["query"]


def test_every_metric_the_dashboard_uses_is_one_the_worker_exports(dashboard):
    exported = exported_sample_names()
    used = set()
    for where, expr in expressions(dashboard):
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        assert names <= exported, f"{where}: {sorted(names - exported)} not exported by /metrics"
        used |= names
    # and the dashboard shows each of the worker's own families
    families = {"pricestream_events_consumed_total", "pricestream_dead_letters_total", "pricestream_decisions_total",
                "pricestream_decision_latency_seconds_bucket", "pricestream_consumer_lag", "pricestream_table_keys",
                "pricestream_forecast_abs_error_sum", "pricestream_forecast_abs_error_count"}
    assert families <= used, sorted(families - used)


def test_the_dashboard_has_the_panels_of_issue_7_on_a_prometheus_data_source(dashboard):
    titles = " | ".join(p["title"] for p in dashboard["panels"]).lower()
    for words in ("events consumed", "dead letters", "decisions", "latency", "lag", "table"):
        assert words in titles
    latency = next(p for p in dashboard["panels"] if "latency" in p["title"].lower())
    assert {t["legendFormat"] for t in latency["targets"]} == {"p50", "p99"}
    assert all(re.match(r"histogram_quantile\(0\.(5|99),", t["expr"]) for t in latency["targets"])
    assert {p["id"] for p in dashboard["panels"]} == set(range(1, len(dashboard["panels"]) + 1))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["refId"] for t in panel["targets"])


def test_prometheus_scrapes_the_workers_metrics_page_on_its_default_port():
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    defaults = Settings.from_env({})
    assert job["static_configs"][0]["targets"] == [f"{defaults.web_host}:{defaults.web_port}"]
