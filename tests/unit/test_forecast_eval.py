"""The forecast evaluation harness: river's protocol reproduced, the engine against the baselines.

AirlinePassengers (bundled with river, no download), horizon 12, season 12, river's grace period
(= horizon). The statsmodels refit is the slow part (about 100 fits): it runs once per session.
"""

from __future__ import annotations

import csv
import json
import random
import re

import pytest
from river import datasets, evaluate as river_evaluate, metrics, time_series

from pricestream.cli import main
from pricestream.domain.forecasting import HoltWintersRiver, SeasonalNaive
from pricestream.forecast_eval import (
    engine_forecaster, ets_refit_forecasts, evaluate, prequential_forecasts, run_forecast_eval, score,
)

# river 0.26's HoltWinters docstring: evaluate.evaluate(AirlinePassengers, HoltWinters(alpha=0.3, beta=0.1,
# gamma=0.6, seasonality=12, multiplicative=True), MAE, horizon=12)
DOCUMENTED_HW_MAE = [25.899087, 26.26131, 25.735903, 25.625678, 26.093842, 26.90249, 28.634398, 29.284769,
                     31.018351, 32.252349, 33.518946, 33.975057]
DOCUMENTED_HW_MEAN = 28.77           # their mean
DOCUMENTED_SNARIMAX_MEAN = 31.89     # river's SNARIMAX(12, 1, 12)(0, 1, 0)12 on the same protocol


@pytest.fixture(scope="module")
def airline() -> list[float]:
    return [float(y) for _, y in datasets.AirlinePassengers()]


@pytest.fixture(scope="module")
def ets_refit(airline):
    """statsmodels ETS refit at every step: (forecasts, steps that fell back to seasonal naive)."""
    return ets_refit_forecasts(airline, season=12, horizon=12)


def river_hw() -> HoltWintersRiver:
    return HoltWintersRiver(alpha=0.3, beta=0.1, gamma=0.6, seasonality=12, multiplicative=True)


def test_the_documented_numbers_are_river_s_own():
    documented = [float(v) for v in re.findall(r"\+\d+\s+MAE: ([\d.]+)", time_series.HoltWinters.__doc__)]
    assert documented == DOCUMENTED_HW_MAE


def test_river_s_holt_winters_reproduces_its_documented_per_horizon_mae(airline):
    result = evaluate(airline, river_hw, horizon=12)          # grace period: river's, the horizon
    assert result["n_steps"] == 120 and result["protocol"] == "river"
    assert result["mae_by_horizon"] == pytest.approx(DOCUMENTED_HW_MAE, abs=1e-4)
    assert result["mean_mae"] == pytest.approx(DOCUMENTED_HW_MEAN, abs=5e-3)


class _RiverAdapter:
    """Our forecaster as a river forecaster (river passes ``x`` and ``xs``)."""

    def __init__(self, model):
        self.model = model

    def learn_one(self, y, x=None):
        self.model.learn_one(y)

    def forecast(self, horizon, xs=None):
        return self.model.forecast(horizon)


def test_the_harness_is_river_s_protocol_for_any_model(airline):
    """Same numbers as river's own ``evaluate.evaluate``, to the last bit, for the engine's model too."""
    for make in (river_hw, lambda: engine_forecaster(12), lambda: SeasonalNaive(12)):
        ours = evaluate(airline, make, horizon=12)["mae_by_horizon"]
        theirs = river_evaluate.evaluate(datasets.AirlinePassengers(), _RiverAdapter(make()), metrics.MAE(),
                                         horizon=12)
        assert ours == pytest.approx([m.get() for m in theirs.metrics], rel=1e-12)


def test_river_s_pairing_and_the_aligned_one():
    series = [1.0, 5.0, 2.0] * 8
    forecasts = prequential_forecasts(series, lambda: SeasonalNaive(3), horizon=3)
    assert score(series, forecasts, 3, aligned=True)["mean_mae"] == 0.0     # a perfect forecaster
    river = score(series, forecasts, 3)                                    # ...charged for y[i+1] vs y[i]
    assert river["mean_mae"] > 2.0 and river["n_steps"] == len(forecasts) - 1


def test_snarimax_reproduces_river_s_documented_mean(airline):
    from pricestream.forecast_eval import _Snarimax

    assert evaluate(airline, lambda: _Snarimax(12), horizon=12)["mean_mae"] == pytest.approx(
        DOCUMENTED_SNARIMAX_MEAN, abs=0.01)


def test_the_engine_beats_river_s_documented_models_and_matches_a_statsmodels_refit(airline, ets_refit):
    ets_forecasts, fallbacks = ets_refit
    ets = score(airline, ets_forecasts, 12)
    engine = evaluate(airline, lambda: engine_forecaster(12), horizon=12)
    naive = evaluate(airline, lambda: SeasonalNaive(12), horizon=12)
    assert engine["mean_mae"] < DOCUMENTED_HW_MEAN
    assert engine["mean_mae"] < DOCUMENTED_SNARIMAX_MEAN
    assert engine["mean_mae"] <= 1.05 * ets["mean_mae"]
    assert engine["mean_mae"] < naive["mean_mae"]
    # statsmodels cannot fit before two full seasons: those steps are seasonal naive, and counted
    assert fallbacks == 12 and ets["n_steps"] == 120
    # on the aligned protocol too
    engine_aligned = evaluate(airline, lambda: engine_forecaster(12), horizon=12, aligned=True)
    assert engine_aligned["mean_mae"] <= 1.05 * score(airline, ets_forecasts, 12, aligned=True)["mean_mae"]


def test_forecast_eval_command_prints_the_report_as_json(tmp_path, capsys, hourly_counts):
    """A small hourly count CSV in shuffled row order, sorted back by its date column. Zeros make the
    multiplicative ETS unfittable: every step falls back to seasonal naive (and is counted)."""
    rows = [(f"2026-01-{1 + t // 24:02d}T{t % 24:02d}:00", y) for t, y in enumerate(hourly_counts)]
    random.Random(1).shuffle(rows)
    path = tmp_path / "sales.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["hour", "units"])
        writer.writerows(rows)
    code = main(["forecast-eval", "--csv", str(path), "--column", "units", "--horizon", "6", "--season", "24",
                 "--date-column", "hour"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["series"] == "units" and report["n"] == len(hourly_counts) and report["horizon"] == 6
    expected = evaluate(hourly_counts, lambda: engine_forecaster(24), horizon=6)
    assert report["engine"]["mae_by_horizon"] == pytest.approx(expected["mae_by_horizon"])
    assert report["engine"]["chosen"] in report["engine"]["chosen_counts"]
    for key in ("seasonal_naive", "statsmodels_ets", "snarimax"):
        assert len(report[key]["mae_by_horizon"]) == 6 and report[key]["aligned"]["mean_mae"] >= 0.0
    assert report["statsmodels_ets"]["n_fallback"] == report["statsmodels_ets"]["aligned"]["n_steps"]


def test_run_forecast_eval_refuses_a_missing_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="column 'c'"):
        run_forecast_eval(str(path), "c", horizon=1, season=1)


@pytest.fixture
def hourly_counts() -> list[float]:
    rng = random.Random(4)
    profile = [0.2] * 7 + [1.0] * 9 + [2.0] * 8
    return [float(sum(rng.random() < profile[t % 24] / 3 for _ in range(3))) for t in range(24 * 5)]
