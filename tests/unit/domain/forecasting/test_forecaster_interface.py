"""Every forecaster honours the common interface: totals, spreads, JSON state that round-trips."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from pricestream.domain.forecasting import (
    Forecaster, ForecasterSelector, HoltWintersRiver, IntermittentDemand, PooledPrior, SeasonalExponentialSmoothing,
    SeasonalNaive, forecaster_from_state,
)

FACTORIES = {
    "seasonal": lambda: SeasonalExponentialSmoothing(24),
    "seasonal-weekly": lambda: SeasonalExponentialSmoothing(24, 168),
    "intermittent": lambda: IntermittentDemand(),
    "seasonal-naive": lambda: SeasonalNaive(24),
    "holt-winters-river": lambda: HoltWintersRiver(seasonality=24, multiplicative=False),
    "selector": lambda: ForecasterSelector(season=24, weekly=168),
    "pooled-start": lambda: PooledPrior(profile=[1.0 + (h % 6) / 5 for h in range(24)], level=1.5).start(phase=5),
}


def trained(name: str, series) -> Forecaster:
    model = FACTORIES[name]()
    for y in series:
        model.learn_one(y)
    return model


def numbers(state) -> int:
    if isinstance(state, dict):
        return sum(numbers(v) for k, v in state.items() if k != "kind")
    if isinstance(state, list):
        return sum(numbers(v) for v in state)
    return 1


@pytest.mark.parametrize("name", FACTORIES)
def test_total_mean_is_the_sum_of_the_forecasts_and_its_variance_grows_with_the_horizon(name, hourly_poisson):
    series, _ = hourly_poisson(rate=3.0, days=21)
    model = trained(name, series)
    variances = []
    for h in (1, 2, 6, 24, 48, 120, 240):
        mean, var = model.total(h)
        assert mean == pytest.approx(math.fsum(model.forecast(h)), rel=1e-12, abs=1e-12)
        assert var > 0.0
        variances.append(var)
    assert all(b > a for a, b in zip(variances, variances[1:])), variances
    # one step: the total's variance is the step's
    assert model.total(1)[1] == pytest.approx(model.forecast_std(1)[0] ** 2, rel=1e-9)
    assert model.total(0) == (0.0, 0.0)


@pytest.mark.parametrize("name", FACTORIES)
def test_state_round_trips_through_json_and_the_restored_model_carries_on_identically(name, hourly_poisson):
    series, _ = hourly_poisson(rate=1.0, days=20, seed=3)
    model = trained(name, series[:300])
    state = model.to_state()
    restored = forecaster_from_state(json.loads(json.dumps(state)))
    assert type(restored) is type(model)
    assert restored.forecast(240) == model.forecast(240)
    assert restored.forecast_std(48) == model.forecast_std(48)
    assert restored.total(100) == model.total(100)
    for y in series[300:]:                       # the restored model keeps learning the same way
        model.learn_one(y)
        restored.learn_one(y)
    assert restored.forecast(48) == model.forecast(48)
    assert restored.to_state() == model.to_state()


@pytest.mark.parametrize("name", FACTORIES)
def test_state_is_compact_plain_json(name, hourly_poisson):
    series, _ = hourly_poisson(days=15)
    state = trained(name, series).to_state()
    text = json.dumps(state, allow_nan=False)          # plain numbers, no NaN/inf, no pickles
    assert numbers(state) <= 300, numbers(state)
    assert json.loads(text) == state


@pytest.mark.parametrize("name", FACTORIES)
def test_forecasts_before_and_right_after_the_first_values(name):
    model = FACTORIES[name]()
    assert len(model.forecast(5)) == 5 and len(model.forecast_std(5)) == 5
    for y in [0.0, 2.0, 1.0]:
        model.learn_one(y)
        assert all(math.isfinite(v) and v >= 0.0 for v in model.forecast(30))
        assert all(math.isfinite(v) and v >= 0.0 for v in model.forecast_std(30))


@pytest.mark.parametrize("name", [n for n in FACTORIES if n != "holt-winters-river"])
@settings(max_examples=25, deadline=None)
@given(series=st.lists(st.one_of(st.just(0.0), st.floats(0.0, 50.0)), min_size=0, max_size=120))
def test_any_non_negative_series_gives_finite_non_negative_forecasts(name, series):
    model = trained(name, series)
    for v in model.forecast(30) + model.forecast_std(30) + list(model.total(30)):
        assert math.isfinite(v) and v >= 0.0
    assert forecaster_from_state(json.loads(json.dumps(model.to_state()))).forecast(30) == model.forecast(30)


def test_a_non_finite_observation_is_refused():
    for make in FACTORIES.values():
        with pytest.raises(ValueError):
            make().learn_one(float("nan"))


def test_an_unknown_state_kind_is_refused():
    with pytest.raises(ValueError, match="unknown forecaster state kind"):
        forecaster_from_state({"kind": "Oracle"})
