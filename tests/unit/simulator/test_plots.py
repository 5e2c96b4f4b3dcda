"""`pricestream simulate --report PATH.html`: a self-contained page whose table is the run's metrics
and whose charts are what the market recorded, and a run that decides exactly as without it."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter

import numpy as np
import pytest

from pricestream.cli import main
from pricestream.domain.engine import EngineConfig
from pricestream.report_html import MAX_POINTS_PER_TRACE, bucket_size, downsample
from pricestream.simulator.plots import DEMAND_TRACES, PRICE_TRACES, STOCK_TRACES, sku_anchor
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import load_scenario
from tests.unit.report_parsing import assert_self_contained, sections, table_starting, trace_names

SKUS = 3
PERIODS = 24 * 14          # long enough for every SKU to order and receive a restock


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory):
    """`standard` cut to its first SKUs, as a scenario file the CLI reads."""
    from importlib.resources import files

    raw = json.loads(files("pricestream.simulator").joinpath("scenarios/standard.json").read_text())
    raw["skus"] = raw["skus"][:SKUS]
    path = tmp_path_factory.mktemp("scenario") / "three.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture(scope="module")
def runs(scenario_file, tmp_path_factory):
    """The same run twice through the CLI, without and with --report: (JSON without, JSON with, HTML)."""
    out = tmp_path_factory.mktemp("out")
    args = ["simulate", "--scenario", str(scenario_file), "--periods", str(PERIODS), "--policy", "learned",
            "--restock-policy", "learned", "--quiet"]
    assert main(args + ["--report-json", str(out / "plain.json")]) == 0
    assert main(args + ["--report-json", str(out / "plotted.json"), "--report", str(out / "report.html")]) == 0
    return (json.loads((out / "plain.json").read_text()), json.loads((out / "plotted.json").read_text()),
            (out / "report.html").read_text())


def test_the_report_changes_no_decision_and_no_figure(runs):
    plain, plotted, _ = runs
    assert plotted == plain
    assert plain["restock_orders"] >= 1 and plain["price_changes"] > SKUS   # the run did decide things


def test_the_page_opens_offline_with_one_section_per_sku_holding_the_three_charts(runs):
    plain, _, page = runs
    assert_self_contained(page)
    found = sections(page)
    assert list(found) == [sku_anchor(sku) for sku in plain["per_sku"]]
    for sku, html in found.items():
        assert set(PRICE_TRACES + DEMAND_TRACES + STOCK_TRACES) <= trace_names(html), sku


def test_the_metrics_table_holds_the_run_s_exact_figures(runs):
    plain, _, page = runs
    table = table_starting(page, "Metrics")
    assert list(table) == ["total", *plain["per_sku"]]
    checked = 0
    for row, cells in table.items():
        figures = plain if row == "total" else plain["per_sku"][row]
        for metric, exact in cells.items():
            if figures[metric] is None:
                assert exact is None, (row, metric)
            else:
                assert float(exact) == figures[metric], (row, metric)
                checked += 1
    assert checked >= (SKUS + 1) * 10


def test_the_plotted_paths_are_the_decisions_the_market_applied():
    """Forecasts, reorder points and restocks in the books come from the engine's own events."""
    scenario = load_scenario("standard", periods=PERIODS)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:SKUS])
    result = simulate(scenario, OfflineDriver(EngineConfig("learned", "learned")))
    events = [(topic, json.loads(raw)) for topic, raw in result.decisions]
    assert any(m.books.restocks_arrived for m in result.market.skus.values())
    for sku, m in result.market.skus.items():
        books = m.books
        assert len(books.forecast_path) == len(books.reorder_point_path) == len(books.on_hand_path) == PERIODS
        orders = [e for topic, e in events if topic == "restock-orders" and e["sku"] == sku]
        assert [units for _, units in books.restocks_ordered] == [e["quantity"] for e in orders]
        assert len(orders) == result.report["per_sku"][sku]["restock_orders"]
        # the reorder point steps to each order's from the period after it was decided
        for (period, _), order in zip(books.restocks_ordered, orders):
            if period < PERIODS:
                assert books.reorder_point_path[period] == order["reorder_point"]
        if not books.restocks_ordered or books.restocks_ordered[0][0] > 0:
            assert books.reorder_point_path[0] == m.spec.inventory.reorder_point
        # a period's arrivals lift the stock by their units (no sale happens between receipt and count)
        arrived = Counter()
        for period, units in books.restocks_arrived:
            arrived[period] += units
        for period, units in arrived.items():
            before = books.on_hand_path[period - 1] - books.sold_path[period - 1]
            assert books.on_hand_path[period] == before + units
        # the forecast of period t is the last demand forecast decided before it
        forecasts = [e for topic, e in events if topic == "demand-forecasts" and e["sku"] == sku]
        assert books.forecast_path[-1] == forecasts[-2]["expected_units"]     # the last one is for after the end
        assert books.forecast_std_path[-1] == forecasts[-2]["units_std"]


def test_long_paths_are_averaged_into_at_most_the_point_budget():
    n = 7 * MAX_POINTS_PER_TRACE + 3
    values = [float(t) for t in range(n)]
    size = bucket_size(n)
    points = downsample(values, size)
    assert len(points) <= MAX_POINTS_PER_TRACE
    assert points[0] == np.mean(values[:size]) and points[-1] == np.mean(values[-(n % size or size):])


def test_missing_values_are_gaps_and_do_not_pull_a_bucket_s_mean():
    points = downsample([None, None, 2.0, 4.0, None], 2)
    assert math.isnan(points[0]) and points[1] == 3.0 and math.isnan(points[2])


def test_a_png_path_is_refused_before_anything_runs(tmp_path, capsys):
    code = main(["simulate", "--scenario", "standard", "--periods", "2", "--quiet", "--report",
                 str(tmp_path / "report.png")])
    assert code == 2
    assert "HTML" in capsys.readouterr().err and not list(tmp_path.iterdir())
