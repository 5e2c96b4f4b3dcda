"""IntermittentDemand (TSB): slow movers below one unit a day."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pricestream.domain.forecasting import IntermittentDemand, SeasonalNaive


def errors(model, series, horizon, warmup):
    """(one-step absolute errors, one-step squared errors, absolute errors of the next-horizon sums)."""
    abs1, sq1, abs_sum = [], [], []
    for t, y in enumerate(series):
        if t >= warmup:
            f = model.forecast(1)[0]
            abs1.append(abs(y - f))
            sq1.append((y - f) ** 2)
            if t % 24 == 0 and t + horizon <= len(series):
                abs_sum.append(abs(sum(series[t:t + horizon]) - model.total(horizon)[0]))
        model.learn_one(y)
    return np.mean(abs1), np.mean(sq1), np.mean(abs_sum)


@pytest.mark.parametrize("per_day", [0.2, 0.5, 0.9])
def test_tsb_beats_seasonal_naive_on_intermittent_demand_below_one_unit_a_day(per_day, intermittent):
    series = intermittent(per_day=per_day, days=150, seed=1)
    tsb = errors(IntermittentDemand(beta=0.01), series, horizon=168, warmup=14 * 24)
    naive = errors(SeasonalNaive(24), series, horizon=168, warmup=14 * 24)
    assert tsb[0] < naive[0]          # one-step MAE
    assert tsb[1] < 0.75 * naive[1]   # one-step MSE
    assert tsb[2] < naive[2]          # MAE of the week-ahead total (what a restock needs)


def test_the_forecast_decays_when_an_item_stops_selling():
    model = IntermittentDemand(alpha=0.1, beta=0.05)
    for y in [0, 0, 2, 0, 0, 1, 0, 0, 0, 3] * 10:
        model.learn_one(y)
    selling = model.forecast(1)[0]
    for _ in range(40):
        model.learn_one(0)
    assert model.forecast(1)[0] < 0.2 * selling      # Croston would keep forecasting `selling`
    assert model.size == pytest.approx(2.0, abs=0.3)  # the size is untouched by zeros


def test_the_total_is_overdispersed_with_the_rate_uncertainty_shared_by_all_periods():
    model = IntermittentDemand(alpha=0.1, beta=0.02)
    for y in [0, 0, 0, 1, 0, 0, 0, 0, 2, 0] * 30:
        model.learn_one(y)
    p, z, v = model.probability, model.size, model.size_var
    period_var = p * (v + z * z) - (p * z) ** 2
    for h in (1, 10, 100):
        mean, var = model.total(h)
        assert mean == pytest.approx(h * p * z)
        rate_var = var - h * period_var
        assert rate_var == pytest.approx(h * h * model._rate_var())
        assert var > mean * 0.5
    assert model.total(100)[1] > 100 * period_var      # more than independent periods would give


def test_before_any_demand_it_forecasts_zero_and_starts_with_running_averages():
    model = IntermittentDemand(alpha=0.1, beta=0.01)
    for _ in range(5):
        model.learn_one(0.0)
    assert model.forecast(3) == [0.0, 0.0, 0.0]
    model.learn_one(4.0)                               # the 6th period: p = 1/6, z = 4
    assert model.probability == pytest.approx(1 / 6)
    assert model.size == 4.0
    assert math.isclose(model.forecast(1)[0], 4 / 6)


def test_week_totals_of_a_slow_mover_are_covered(intermittent):
    series = intermittent(per_day=0.7, days=200, seed=3)
    model = IntermittentDemand(beta=0.01)
    inside = []
    for t, y in enumerate(series):
        if t >= 21 * 24 and t % 24 == 0 and t + 168 <= len(series):
            mean, var = model.total(168)
            inside.append(abs(sum(series[t:t + 168]) - mean) <= 1.645 * math.sqrt(var))
        model.learn_one(y)
    assert 0.8 <= np.mean(inside) <= 0.99
