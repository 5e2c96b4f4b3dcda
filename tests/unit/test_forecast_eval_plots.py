"""`pricestream forecast-eval --report PATH.html`: the MAE tables are the printed report's figures, a
chart per horizon draws the engine's forecast with its band against the actual values, and the JSON
printed is the same with or without it."""

from __future__ import annotations

import csv
import json
import math
import random

import pytest

from pricestream.cli import main
from pricestream.forecast_eval import engine_forecaster, forecast_eval_runs
from pricestream.forecast_eval_plots import HORIZON_TRACES, MODELS, aligned_path, horizons_to_plot
from tests.unit.report_parsing import assert_self_contained, sections, table_starting, trace_names

HORIZON, SEASON = 4, 24


@pytest.fixture(scope="module")
def sales_csv(tmp_path_factory):
    """Five days of hourly unit counts with a daily profile (zeros: ETS falls back, which keeps it fast)."""
    rng = random.Random(7)
    profile = [0.2] * 7 + [1.0] * 9 + [2.0] * 8
    path = tmp_path_factory.mktemp("sales") / "sales.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["hour", "units"])
        for t in range(24 * 5):
            writer.writerow([f"2026-01-{1 + t // 24:02d}T{t % 24:02d}:00",
                             sum(rng.random() < profile[t % 24] / 3 for _ in range(3))])
    return path


@pytest.fixture(scope="module")
def outputs(sales_csv, tmp_path_factory):
    """forecast-eval's stdout without and with --report, and the page."""
    import contextlib
    import io

    page = tmp_path_factory.mktemp("out") / "forecast.html"
    args = ["forecast-eval", "--csv", str(sales_csv), "--column", "units", "--horizon", str(HORIZON),
            "--season", str(SEASON), "--date-column", "hour"]
    printed = []
    for extra in ([], ["--report", str(page)]):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(args + extra) == 0
        printed.append(out.getvalue())
    return printed[0], printed[1], page.read_text()


def test_the_printed_report_is_the_same_with_the_html_report(outputs):
    plain, plotted, _ = outputs
    assert plotted == plain and json.loads(plain)["engine"]["n_steps"] > 0


def test_the_mae_tables_hold_the_report_s_exact_figures(outputs):
    report, page = json.loads(outputs[0]), outputs[2]
    means = table_starting(page, "Mean absolute error")
    by_horizon = table_starting(page, "MAE by steps ahead")
    ran = [key for key in MODELS if key in report and "error" not in report[key]]
    assert list(means) == list(by_horizon) == [MODELS[key] for key in ran]
    for key in ran:
        row = means[MODELS[key]]
        assert float(row["mean_mae"]) == report[key]["mean_mae"]
        assert float(row["aligned_mean_mae"]) == report[key]["aligned"]["mean_mae"]
        assert int(row["n_steps"]) == report[key]["n_steps"]
        assert [float(v) for v in by_horizon[MODELS[key]].values()] == report[key]["mae_by_horizon"]
    assert int(means[MODELS["statsmodels_ets"]]["n_fallback"]) == report["statsmodels_ets"]["n_fallback"]


def test_the_page_opens_offline_with_a_chart_per_horizon(outputs):
    _, _, page = outputs
    assert_self_contained(page)
    found = sections(page)
    assert list(found) == ["mae-by-horizon"] + [f"horizon-{h}" for h in range(1, HORIZON + 1)]
    for h in range(1, HORIZON + 1):
        names = trace_names(found[f"horizon-{h}"])
        assert set(HORIZON_TRACES) | {MODELS["seasonal_naive"], MODELS["statsmodels_ets"]} <= names


def test_the_band_is_the_engine_s_own_predictive_spread(sales_csv):
    report, runs = forecast_eval_runs(str(sales_csv), "units", HORIZON, SEASON, "hour", snarimax=False, processes=0)
    assert len(runs.engine_std) == len(runs.engine) == report["engine"]["n_steps"] + 1   # river's protocol skips one
    model, learned = engine_forecaster(SEASON), 0        # replayed: the same forecasts, the same spreads
    for (i, means), stds in zip(runs.engine, runs.engine_std):
        while learned < i:
            model.learn_one(runs.series[learned])
            learned += 1
        assert model.forecast(HORIZON) == means and model.forecast_std(HORIZON) == stds
    assert any(sd > 0 for stds in runs.engine_std for sd in stds)


def test_each_forecast_is_drawn_at_the_value_it_forecasts():
    path = aligned_path([(2, [10.0, 11.0]), (3, [20.0, 21.0])], h=2, n=5)
    assert math.isnan(path[0]) and math.isnan(path[1]) and math.isnan(path[2])
    assert path[3] == 11.0 and path[4] == 21.0


def test_long_horizons_are_sampled_from_first_to_last():
    assert horizons_to_plot(12) == list(range(1, 13))
    picked = horizons_to_plot(168)
    assert picked[0] == 1 and picked[-1] == 168 and len(picked) == 12


def test_a_png_path_is_refused_before_anything_runs(sales_csv, tmp_path, capsys):
    code = main(["forecast-eval", "--csv", str(sales_csv), "--column", "units", "--horizon", "2", "--season", "24",
                 "--report", str(tmp_path / "forecast.png")])
    assert code == 2 and "HTML" in capsys.readouterr().err and not list(tmp_path.iterdir())
