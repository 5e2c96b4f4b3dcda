"""SeasonalExponentialSmoothing: learns daily and weekly profiles from hourly counts, zeros and all."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pricestream.domain.forecasting import SeasonalExponentialSmoothing


def one_step_maes(model, series, mu, warmup):
    model_err, truth_err = [], []
    for t, y in enumerate(series):
        if t >= warmup:
            model_err.append(abs(y - model.forecast(1)[0]))
            truth_err.append(abs(y - mu[t]))
        model.learn_one(y)
    return float(np.mean(model_err)), float(np.mean(truth_err))


@pytest.mark.parametrize("rate", [0.5, 2.0, 10.0])
def test_it_learns_a_known_daily_profile_from_hourly_poisson_counts(rate, hourly_poisson):
    series, mu = hourly_poisson(rate=rate, days=60, seed=1)
    model = SeasonalExponentialSmoothing(24)
    mae, mae_truth = one_step_maes(model, series, mu, warmup=14 * 24)
    assert mae <= 1.10 * mae_truth, (mae, mae_truth)
    # day-ahead too: the next 24 hours forecast at once, against the truth's own error
    model = SeasonalExponentialSmoothing(24)
    errs, truth_errs = [], []
    for t, y in enumerate(series):
        if t >= 14 * 24 and t % 24 == 0 and t + 24 <= len(series):
            pred = np.array(model.forecast(24))
            errs.append(np.abs(np.array(series[t:t + 24]) - pred).mean())
            truth_errs.append(np.abs(np.array(series[t:t + 24]) - mu[t:t + 24]).mean())
        model.learn_one(y)
    assert np.mean(errs) <= 1.10 * np.mean(truth_errs)


def test_the_learned_profile_is_the_true_one(hourly_poisson, profile):
    series, _ = hourly_poisson(rate=10.0, days=60, seed=2)
    model = SeasonalExponentialSmoothing(24)
    for y in series:
        model.learn_one(y)
    relative = np.abs(np.array(model.daily) / profile - 1.0)
    # each hour's factor averages ~20 days of Poisson counts: a few % to ~15 % of noise per hour
    assert relative.mean() < 0.1 and relative.max() < 0.35, relative
    assert model.level == pytest.approx(10.0, rel=0.1)


def test_a_weekly_profile_is_learned_per_day_and_helps(hourly_poisson):
    series, mu = hourly_poisson(rate=5.0, days=84, seed=4, weekly_amplitude=0.4)
    weekly = SeasonalExponentialSmoothing(24, 168)
    daily_only = SeasonalExponentialSmoothing(24)
    err_weekly, err_daily = [], []
    for t, y in enumerate(series):
        if t >= 28 * 24 and t % 24 == 0 and t + 168 <= len(series):
            truth = mu[t:t + 168]
            err_weekly.append(np.abs(np.array(weekly.forecast(168)) - truth).mean())
            err_daily.append(np.abs(np.array(daily_only.forecast(168)) - truth).mean())
        weekly.learn_one(y)
        daily_only.learn_one(y)
    assert np.mean(err_weekly) < 0.6 * np.mean(err_daily)
    true_days = np.array([mu[d * 24:(d + 1) * 24].mean() for d in range(7)])
    assert np.corrcoef(weekly.week, true_days)[0, 1] > 0.95


def test_all_zeros_forecast_zero_and_a_lone_sale_in_a_quiet_hour_does_not_throw_the_level():
    model = SeasonalExponentialSmoothing(24)
    for _ in range(24 * 10):
        model.learn_one(0.0)
    assert model.forecast(48) == [0.0] * 48
    assert model.total(48) == (0.0, 0.0)
    # a slow mover: about one sale every two days, then one sale at 3 am
    rng = np.random.default_rng(5)
    model = SeasonalExponentialSmoothing(24)
    for y in rng.poisson(0.02, 24 * 30):
        model.learn_one(float(y))
    before = model.total(24)[0]
    while (model.phase + model.t) % 24 != 3:
        model.learn_one(0.0)
    quiet = model.daily[3]
    model.learn_one(1.0)
    after = model.total(24)[0]
    # the hourly level moved by about alpha x one unit (a day: 24 alpha), not by alpha / (a small factor)
    assert after - before < 1.1 * 24 * model.alpha
    assert model.daily[3] < quiet + 0.15                # the factor update is shrunk by prior_counts
    assert all(math.isfinite(v) for v in model.forecast(240))


def test_a_trend_is_followed(profile):
    t = np.arange(40 * 24)
    mu = 2.0 * profile[t % 24] * (1.0 + 0.03 * t / 24)        # +3 % of the start per day
    series = np.random.default_rng(6).poisson(mu).astype(float)
    with_trend = SeasonalExponentialSmoothing(24, beta=0.01)
    no_trend = SeasonalExponentialSmoothing(24, beta=0.0)
    for y in series[:30 * 24]:
        with_trend.learn_one(y)
        no_trend.learn_one(y)
    truth = mu[30 * 24:31 * 24].sum()
    assert abs(with_trend.total(24)[0] - truth) < abs(no_trend.total(24)[0] - truth)
    assert with_trend.trend > 0.0


def brute_force_total_variance(model: SeasonalExponentialSmoothing, horizon: int) -> float:
    """sigma2 sum_k s_k^p (1 + alpha s_k^(1-p) sum_{h>k} s_h (1 + beta phi_{h-k}))^2, plus the excess."""
    s = model.seasonal_factors(horizon)
    p, a, b, phi = model.variance_power, model.alpha, model.beta, model.phi
    damped = [0.0] + [sum(phi ** i for i in range(1, j + 1)) for j in range(1, horizon + 1)]
    var = 0.0
    for k in range(horizon):
        carry = sum(s[h] * (1.0 + b * damped[h - k]) for h in range(k + 1, horizon))
        var += s[k] ** p * (1.0 + a * s[k] ** (1.0 - p) * carry) ** 2
    means = model.forecast(horizon)
    excess = max(model.tau2, 0.0) * sum(sum(means[k:k + 24]) ** 2 for k in range(0, horizon, 24))
    return model.sigma2 * var + excess


@pytest.mark.parametrize("params", [{}, {"alpha": 0.3, "beta": 0.1, "phi": 0.9, "variance_power": 2.0},
                                    {"variance_power": 0.0, "phi": 1.0}])
def test_the_total_variance_is_the_state_space_formula(params, hourly_poisson):
    series, _ = hourly_poisson(rate=4.0, days=30, seed=7)
    model = SeasonalExponentialSmoothing(24, **params)
    for y in series:
        model.learn_one(y)
    for h in (1, 5, 24, 100):
        assert model.total(h)[1] == pytest.approx(brute_force_total_variance(model, h), rel=1e-9)
    # a lead time's errors are correlated through the level: the sum's variance exceeds the sum of variances
    assert model.total(100)[1] > sum(v * v for v in model.forecast_std(100)) * 0.999


@pytest.mark.parametrize("rate,horizon", [(0.5, 24), (3.0, 24), (3.0, 120), (15.0, 72)])
def test_lead_time_totals_are_calibrated(rate, horizon, hourly_poisson):
    """z = (actual sum - forecast mean) / forecast sd over many origins: sd near 1, ~90 % within 1.645."""
    series, _ = hourly_poisson(rate=rate, days=90, seed=8, weekly_amplitude=0.3)
    model = SeasonalExponentialSmoothing(24, 168)
    z = []
    for t, y in enumerate(series):
        if t >= 14 * 24 and t % 5 == 0 and t + horizon <= len(series):
            mean, var = model.total(horizon)
            z.append((sum(series[t:t + horizon]) - mean) / math.sqrt(var))
        model.learn_one(y)
    z = np.array(z)
    assert 0.7 < z.std() < 1.3, z.std()
    assert 0.8 < np.mean(np.abs(z) < 1.645) < 0.99
    assert abs(z.mean()) < 0.3


def test_the_first_season_is_buffered_then_the_model_starts():
    model = SeasonalExponentialSmoothing(4)
    for y in [1.0, 3.0]:
        model.learn_one(y)
    assert not model.ready and model.forecast(3) == [2.0, 2.0, 2.0]
    for y in [5.0, 3.0]:
        model.learn_one(y)
    assert model.ready and model.buffer == []
    assert model.forecast(4)[2] > model.forecast(4)[0]        # the profile of the first season


@pytest.mark.parametrize("kwargs", [{"season": 0}, {"season": 24, "weekly": 100}, {"season": 24, "alpha": 1.5},
                                    {"season": 24, "phi": 0.0}])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        SeasonalExponentialSmoothing(**kwargs)
