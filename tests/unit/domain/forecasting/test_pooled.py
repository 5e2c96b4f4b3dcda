"""Cold start: a new SKU borrows the pooled profile and level of the SKUs already selling."""

from __future__ import annotations

import numpy as np
import pytest

from pricestream.domain.forecasting import ForecasterSelector, PooledPrior, SeasonalExponentialSmoothing, blend


def fitted_models(profile, rates, days=40, seed=0):
    rng = np.random.default_rng(seed)
    models = []
    t = np.arange(days * 24)
    for rate in rates:
        model = SeasonalExponentialSmoothing(24)
        for y in rng.poisson(rate * profile[t % 24]):
            model.learn_one(float(y))
        models.append(model)
    return models


def test_pooling_recovers_the_shared_profile(profile):
    prior = PooledPrior.from_models(fitted_models(profile, [0.5, 1.0, 3.0, 6.0, 10.0]))
    assert np.max(np.abs(np.array(prior.profile) / profile - 1.0)) < 0.15
    assert prior.level == pytest.approx(3.0, rel=0.15)          # the median level


def test_a_new_sku_with_a_pooled_prior_forecasts_its_first_days_better(profile):
    prior = PooledPrior.from_models(fitted_models(profile, [1.0, 2.0, 4.0, 8.0]), strength=48)
    rng = np.random.default_rng(9)
    start_hour = 7                                               # the SKU is listed at 7 am
    t = np.arange(start_hour, start_hour + 3 * 24)
    mu = 3.0 * profile[t % 24]
    series = rng.poisson(mu).astype(float)
    cold = SeasonalExponentialSmoothing(24)
    warm = prior.start(phase=start_hour)
    err_cold, err_warm = [], []
    for k, y in enumerate(series):
        err_cold.append(abs(cold.forecast(1)[0] - mu[k]))
        err_warm.append(abs(warm.forecast(1)[0] - mu[k]))
        cold.learn_one(y)
        warm.learn_one(y)
    assert np.mean(err_warm) < 0.6 * np.mean(err_cold)
    # and a selector can start from it: ready (and profile-shaped) before the SKU's first sale
    selector = ForecasterSelector(season=24, prior=prior)
    first_day = selector.forecast(24)
    assert max(first_day) / min(first_day) > 3


def test_own_data_takes_over_as_it_accumulates(profile):
    prior = PooledPrior(profile=list(profile), level=1.0, strength=24)
    model = prior.start(phase=0)
    rng = np.random.default_rng(2)
    t = np.arange(30 * 24)
    for y in rng.poisson(6.0 * profile[t % 24]):                 # this SKU sells six times the pooled level
        model.learn_one(float(y))
    assert model.level == pytest.approx(6.0, rel=0.15)


def test_blend_weights_by_periods_seen():
    assert blend(own=10.0, pooled=2.0, n=0, strength=24) == 2.0
    assert blend(own=10.0, pooled=2.0, n=24, strength=24) == 6.0
    assert blend(own=10.0, pooled=2.0, n=10_000, strength=24) == pytest.approx(10.0, rel=0.01)


def test_mismatched_shapes_are_refused(profile):
    prior = PooledPrior(profile=list(profile), level=1.0, week=[1.0] * 7)
    with pytest.raises(ValueError):
        prior.start(season=12)
    with pytest.raises(ValueError):
        prior.start(season=24, weekly=24 * 14)
    assert prior.start(season=24).weekly == 168
