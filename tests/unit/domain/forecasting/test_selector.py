"""ForecasterSelector: per SKU, online, forecasts with the candidate that has lately been most accurate."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from pricestream.domain.forecasting import (
    ForecasterSelector, IntermittentDemand, SeasonalExponentialSmoothing, SeasonalNaive, forecaster_from_state,
)


def run(model, series):
    chosen = Counter()
    for t, y in enumerate(series):
        model.learn_one(y)
        if t >= len(series) // 2:
            chosen[model.chosen] += 1
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_picks_the_intermittent_model_on_intermittent_data(seed, intermittent):
    model = ForecasterSelector(season=24, weekly=168)
    chosen = run(model, intermittent(per_day=0.5, days=120, seed=seed))
    assert model.chosen == "intermittent"
    assert chosen["intermittent"] >= 0.8 * sum(chosen.values()), chosen


@pytest.mark.parametrize("rate", [1.0, 5.0, 20.0])
def test_it_picks_a_seasonal_model_on_seasonal_data(rate, hourly_poisson):
    model = ForecasterSelector(season=24, weekly=168)
    series, _ = hourly_poisson(rate=rate, days=60, seed=3, weekly_amplitude=0.3)
    chosen = run(model, series)
    assert model.chosen.startswith("seasonal") and model.chosen != "seasonal-naive"
    assert sum(v for k, v in chosen.items() if k in ("seasonal", "seasonal-mid", "seasonal-fast")) \
        >= 0.9 * sum(chosen.values()), chosen


def test_it_forecasts_with_the_chosen_candidate_and_reports_the_errors(hourly_poisson):
    model = ForecasterSelector(season=24)
    series, _ = hourly_poisson(rate=3.0, days=20)
    for y in series:
        model.learn_one(y)
    assert model.forecast(48) == model.chosen_model.forecast(48)
    assert model.forecast_std(48) == model.chosen_model.forecast_std(48)
    assert model.total(48) == model.chosen_model.total(48)
    errors = model.errors()
    assert set(errors) == {"seasonal", "seasonal-mid", "seasonal-fast", "intermittent", "seasonal-naive"}
    assert errors[model.chosen] == min(e for e in errors.values() if e is not None)


def test_until_a_candidate_is_scored_the_first_ready_one_is_used():
    model = ForecasterSelector([("a", SeasonalNaive(3)), ("b", IntermittentDemand())], season=3)
    assert model.chosen == "a"                   # nobody is ready: the first listed
    model.learn_one(1.0)                         # TSB has seen a demand, seasonal naive not a season
    assert model.chosen == "b" and model.errors() == {"a": None, "b": None}
    model.learn_one(1.0)
    assert model.chosen == "b" and model.errors()["b"] is not None


def test_mae_and_k_step_scoring_are_options_and_round_trip(hourly_poisson):
    series, _ = hourly_poisson(rate=2.0, days=10)
    for kwargs in ({"metric": "mae"}, {"score_horizon": 24}):
        model = ForecasterSelector(season=24, **kwargs)
        for y in series[:150]:
            model.learn_one(y)
        restored = forecaster_from_state(json.loads(json.dumps(model.to_state())))
        for y in series[150:]:
            model.learn_one(y)
            restored.learn_one(y)
        assert restored.errors() == model.errors() and restored.chosen == model.chosen
        assert restored.forecast(24) == model.forecast(24)


def test_custom_candidates_and_bad_arguments():
    model = ForecasterSelector([("hw", SeasonalExponentialSmoothing(4, alpha=0.3)), ("naive", SeasonalNaive(4))],
                               season=4)
    for y in [1, 5, 9, 5] * 10:
        model.learn_one(float(y))
    assert model.chosen in ("hw", "naive")
    with pytest.raises(ValueError, match="unique"):
        ForecasterSelector([("x", SeasonalNaive(4)), ("x", SeasonalNaive(4))])
    with pytest.raises(ValueError):
        ForecasterSelector([])
    with pytest.raises(ValueError):
        ForecasterSelector(season=4, metric="mape")
