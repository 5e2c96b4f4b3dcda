"""``pricestream simulate --report PATH.html``: the run's metrics table, then per SKU three charts on
one time axis: our price against the oracle's, the engine's forecast (with its 95 % band) against the
units sold and asked for, and the stock against the reorder point with the restocks.

Everything plotted is what the market recorded while it played (``SkuBooks``); drawing it changes
nothing in the run.
"""

from __future__ import annotations

import numpy as np

from pricestream.report_html import (
    Column, Section, band_traces, bucket_size, downsample, figure_html, metrics_table, render_page, write_report,
)
from pricestream.simulator.market import Market, SkuBooks
from pricestream.simulator.scenario import DAY_MS

METRIC_COLUMNS = (
    Column("profit", "profit"), Column("oracle_profit", "oracle profit"), Column("profit_ratio", "ratio", ".3f"),
    Column("realised_profit", "realised profit"), Column("net_profit", "net profit"),
    Column("fill_rate", "fill rate", ".3f"), Column("stockout_periods", "stockout periods", "d"),
    Column("avg_on_hand", "avg on hand"), Column("price_changes", "price changes", "d"),
    Column("restock_orders", "restock orders", "d"), Column("forecast_mae", "forecast MAE", ".4f"),
    Column("forecast_mae_ratio", "MAE / floor", ".3f"),
)
SEED_SUMMARY_COLUMNS = (Column("mean", "mean", ".4f"), Column("std", "std", ".4f"), Column("min", "min", ".4f"),
                        Column("max", "max", ".4f"))

# trace names, by chart (the tests look for them)
PRICE_TRACES = ("our price", "oracle price", "cheapest competitor in stock")
DEMAND_TRACES = ("forecast 95% band", "forecast", "units demanded", "units sold", "true expected demand")
STOCK_TRACES = ("on hand", "reorder point", "restock ordered", "restock arrived")

_BLUE, _ORANGE, _GREEN, _GREY, _RED = "rgb(31, 119, 180)", "rgb(255, 127, 14)", "rgb(44, 160, 44)", \
    "rgb(150, 150, 150)", "rgb(214, 39, 40)"


def sku_anchor(sku: str) -> str:
    return f"sku-{sku}"


def sku_figure(sku: str, books: SkuBooks, period_ms: int):
    """The three charts of one SKU, stacked on a shared axis of days since the start."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(books.price_path)
    size = bucket_size(n)
    days = np.arange(0, n, size) * period_ms / DAY_MS

    def path(values):
        return downsample(values, size)

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("price", "units per period", "stock"))

    def add(row: int, trace) -> None:
        trace.legend = "legend" if row == 1 else f"legend{row}"     # one legend beside each chart
        fig.add_trace(trace, row=row, col=1)

    add(1, go.Scatter(x=days, y=path(books.price_path), name=PRICE_TRACES[0], line={"color": _BLUE}))
    add(1, go.Scatter(x=days, y=path(books.oracle_path), name=PRICE_TRACES[1], line={"color": _ORANGE, "dash": "dash"}))
    add(1, go.Scatter(x=days, y=path(books.competitor_path), name=PRICE_TRACES[2],
                      line={"color": _GREY, "dash": "dot"}))

    forecast = path(books.forecast_path)
    for trace in band_traces(days, forecast, path(books.forecast_std_path), DEMAND_TRACES[0], _BLUE):
        add(2, trace)
    add(2, go.Scatter(x=days, y=forecast, name=DEMAND_TRACES[1], line={"color": _BLUE}))
    add(2, go.Scatter(x=days, y=path(books.demanded_path), name=DEMAND_TRACES[2], line={"color": _RED, "width": 1}))
    add(2, go.Scatter(x=days, y=path(books.sold_path), name=DEMAND_TRACES[3], line={"color": _GREEN}))
    add(2, go.Scatter(x=days, y=path(books.demand_path), name=DEMAND_TRACES[4], line={"color": _GREY, "dash": "dash"}))

    on_hand = books.on_hand_path
    add(3, go.Scatter(x=days, y=path(on_hand), name=STOCK_TRACES[0], line={"color": _GREEN}))
    add(3, go.Scatter(x=days, y=path(books.reorder_point_path), name=STOCK_TRACES[1],
                      line={"color": _RED, "dash": "dash", "shape": "hv"}))
    # restocks are events, not paths: each one is a marker on the stock line, at its own period
    for name, events, symbol, color, verb in (
            (STOCK_TRACES[2], books.restocks_ordered, "triangle-down", _ORANGE, "ordered"),
            (STOCK_TRACES[3], books.restocks_arrived, "triangle-up", _BLUE, "arrived")):
        periods = [t for t, _ in events]
        add(3, go.Scatter(x=np.array(periods, dtype=float) * period_ms / DAY_MS,
                          y=np.array([on_hand[min(t, n - 1)] for t in periods] if n else [], dtype=float),
                          mode="markers", name=name, marker={"symbol": symbol, "size": 9, "color": color},
                          text=[f"{units} units {verb}" for _, units in events], hoverinfo="x+text"))

    fig.update_xaxes(title_text="day", row=3, col=1)
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="units", row=2, col=1)
    fig.update_yaxes(title_text="units", row=3, col=1)
    legend = {"x": 1.02, "xanchor": "left", "yanchor": "top"}
    fig.update_layout(height=800, margin={"t": 30, "r": 10}, template="plotly_white", hovermode="x unified",
                      legend={**legend, "y": 1.0}, legend2={**legend, "y": 0.64}, legend3={**legend, "y": 0.29})
    return fig


def simulation_page(report: dict, market: Market, summary: dict | None = None) -> str:
    """The HTML report of one run (``report``: ``build_report``'s dict; ``market``: the run's market).
    ``summary``: the across-seeds summary when several seeds ran (the charts are of this run)."""
    scenario = market.scenario
    period_ms = scenario.period_ms
    rows = [("total", report)] + list(report["per_sku"].items())
    tables = [metrics_table(rows, METRIC_COLUMNS, "Metrics (profit is the expected gross profit of the prices "
                                                  "charged; ratio = profit / oracle profit)", "SKU")]
    if summary:
        seed_rows = [(key, value) for key, value in summary.items() if isinstance(value, dict)]
        tables.append(metrics_table(seed_rows, SEED_SUMMARY_COLUMNS,
                                    f"Over seeds {summary['seeds']} (the charts below are seed {report['seed']}'s)",
                                    "metric"))
    context = [
        f"scenario {report['scenario']}, pricing policy {report.get('policy', '?')}, restock policy "
        f"{report.get('restock_policy', '?')}, seed {report['seed']}: {report['periods']} periods of "
        f"{scenario.period_minutes:g} minutes, {report['skus']} SKU{'' if report['skus'] == 1 else 's'}.",
        "Oracle price: each period's profit-maximising allowed price knowing the true demand, stock unlimited"
        + (" (this scenario's oracle profit is the fluid LP bound, which has no single price path)."
           if scenario.oracle == "fluid-lp" else "."),
        "Forecast: the engine's one-period-ahead forecast of units sold, with mean +- 1.96 predictive sd; "
        "true expected demand is the market's mean at the price charged, stock aside.",
        "Reorder point: the latest restock order's (the catalogue's fixed rule before any order); on hand is "
        "counted at the start of each period, after that period's arrivals.",
    ]
    sections = []
    for sku in report["per_sku"]:
        books = market.skus[sku].books
        size = bucket_size(len(books.price_path))
        note = f'<p class="context">Each point averages {size} periods.</p>' if size > 1 else ""
        sections.append(Section(sku_anchor(sku), sku, note + figure_html(sku_figure(sku, books, period_ms))))
    return render_page(f"pricestream simulate: {report['scenario']}", context, tables, sections, "SKUs")


def write_simulation_report(path, report: dict, market: Market, summary: dict | None = None):
    return write_report(path, simulation_page(report, market, summary))
