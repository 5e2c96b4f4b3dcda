"""``pricestream forecast-eval --report PATH.html``: the MAE tables, MAE by steps ahead, and per
horizon the engine's forecast with its 95 % band against the actual values (baselines alongside).

The charts pair each forecast with the value it forecasts (the aligned protocol); the tables give both
protocols, river's first, as the JSON does.
"""

from __future__ import annotations

import numpy as np

from pricestream.forecast_eval import ForecastRuns
from pricestream.report_html import (
    Column, Section, band_traces, bucket_size, downsample, figure_html, metrics_table, render_page, write_report,
)

MODELS = {"engine": "engine", "statsmodels_ets": "statsmodels ETS refit", "snarimax": "SNARIMAX",
          "seasonal_naive": "seasonal naive"}
MAE_COLUMNS = (Column("mean_mae", "mean MAE (river)", ".4f"), Column("aligned_mean_mae", "mean MAE (aligned)", ".4f"),
               Column("n_steps", "steps", "d"), Column("n_fallback", "ETS fallbacks", "d"))
MAX_HORIZON_CHARTS = 12
# trace names of a horizon's chart (the tests look for them)
HORIZON_TRACES = ("actual", "engine 95% band", "engine forecast")

_BLUE, _BLACK = "rgb(31, 119, 180)", "rgb(40, 40, 40)"


def horizons_to_plot(horizon: int, most: int = MAX_HORIZON_CHARTS) -> list[int]:
    """Every step ahead up to ``most`` of them; beyond, ``most`` spread from 1 to ``horizon``.

    >>> horizons_to_plot(3), horizons_to_plot(48, most=4)
    ([1, 2, 3], [1, 17, 32, 48])
    """
    if horizon <= most:
        return list(range(1, horizon + 1))
    return sorted({int(round(h)) for h in np.linspace(1, horizon, most)})


def model_rows(report: dict) -> list[tuple[str, dict]]:
    """(model label, its figures) for every model that ran, with the aligned mean flattened in."""
    rows = []
    for key, label in MODELS.items():
        figures = report.get(key)
        if not figures or "error" in figures:
            continue
        rows.append((label, {**figures, "aligned_mean_mae": figures["aligned"]["mean_mae"]}))
    return rows


def _by_horizon_rows(report: dict) -> list[tuple[str, dict]]:
    return [(label, {f"+{h + 1}": mae for h, mae in enumerate(figures["mae_by_horizon"])})
            for label, figures in model_rows(report)]


def mae_figure(report: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    steps = np.arange(1, report["horizon"] + 1)
    for label, figures in model_rows(report):
        fig.add_trace(go.Scatter(x=steps, y=figures["mae_by_horizon"], name=f"{label} (river)", mode="lines+markers"))
        fig.add_trace(go.Scatter(x=steps, y=figures["aligned"]["mae_by_horizon"], name=f"{label} (aligned)",
                                 mode="lines", line={"dash": "dot"}, visible="legendonly"))
    fig.update_layout(height=380, template="plotly_white", margin={"t": 30}, xaxis_title="steps ahead",
                      yaxis_title="MAE")
    return fig


def aligned_path(forecasts: list[tuple[int, list[float]]], h: int, n: int) -> np.ndarray:
    """The ``h``-step forecasts placed at the index of the value each forecasts (``i + h - 1``); NaN elsewhere."""
    out = np.full(n, np.nan)
    for i, pred in forecasts:
        if i + h - 1 < n:
            out[i + h - 1] = pred[h - 1]
    return out


def horizon_figure(runs: ForecastRuns, h: int):
    import plotly.graph_objects as go

    n = len(runs.series)
    size = bucket_size(n)
    x = list(runs.dates[::size]) if runs.dates is not None else np.arange(0, n, size)

    def path(values) -> np.ndarray:
        return downsample(list(values), size)

    mean = aligned_path(runs.engine, h, n)
    std = aligned_path([(i, sd) for (i, _), sd in zip(runs.engine, runs.engine_std)], h, n)
    fig = go.Figure()
    for trace in band_traces(x, path(mean), path(std), HORIZON_TRACES[1], _BLUE):
        fig.add_trace(trace)
    fig.add_trace(go.Scatter(x=x, y=path(runs.series), name=HORIZON_TRACES[0], line={"color": _BLACK}))
    fig.add_trace(go.Scatter(x=x, y=path(mean), name=HORIZON_TRACES[2], line={"color": _BLUE}))
    for key, forecasts in runs.baselines.items():
        fig.add_trace(go.Scatter(x=x, y=path(aligned_path(forecasts, h, n)), name=MODELS.get(key, key),
                                 line={"dash": "dot", "width": 1}, visible="legendonly"))
    fig.update_layout(height=380, template="plotly_white", margin={"t": 30}, hovermode="x unified",
                      xaxis_title="date" if runs.dates is not None else "row", yaxis_title="value")
    return fig


def forecast_eval_page(report: dict, runs: ForecastRuns) -> str:
    horizon = report["horizon"]
    tables = [metrics_table(model_rows(report), MAE_COLUMNS, "Mean absolute error over the same steps", "model"),
              metrics_table(_by_horizon_rows(report), [Column(f"+{h}", f"+{h}", ".2f") for h in range(1, horizon + 1)],
                            "MAE by steps ahead (river's protocol)", "model")]
    size = bucket_size(len(runs.series))
    context = [
        f"series {report['series']}: {report['n']} values ({report['n_dropped']} missing dropped), horizon "
        f"{horizon}, season {report['season']}, grace period {report['grace_period']}; the engine's forecaster "
        f"last chose {report['engine']['chosen']}.",
        f"Protocol: {report['protocol']}.",
        "Charts: each forecast at the value it forecasts (aligned), the engine's with mean +- 1.96 predictive sd; "
        "the baselines are in the legend (click to show)." + (f" Each point averages {size} values." if size > 1 else ""),
    ]
    sections = [Section("mae-by-horizon", "MAE by steps ahead", figure_html(mae_figure(report)))]
    sections += [Section(f"horizon-{h}", f"{h} step{'s' if h > 1 else ''} ahead", figure_html(horizon_figure(runs, h)))
                 for h in horizons_to_plot(horizon)]
    return render_page(f"pricestream forecast-eval: {report['series']}", context, tables, sections, "Charts")


def write_forecast_eval_report(path, report: dict, runs: ForecastRuns):
    return write_report(path, forecast_eval_page(report, runs))
