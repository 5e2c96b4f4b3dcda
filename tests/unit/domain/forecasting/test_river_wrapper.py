"""HoltWintersRiver: river's own Holt-Winters, behind the common interface, with a numeric state."""

from __future__ import annotations

import json

from river import datasets, time_series

from pricestream.domain.forecasting import HoltWintersRiver, forecaster_from_state


def test_it_forecasts_exactly_as_river_does_and_survives_a_json_round_trip():
    params = dict(alpha=0.3, beta=0.1, gamma=0.6, seasonality=12, multiplicative=True)
    river_model = time_series.HoltWinters(**params)
    wrapper = HoltWintersRiver(**params)
    series = [y for _, y in datasets.AirlinePassengers()]
    for k, y in enumerate(series):
        river_model.learn_one(y)
        wrapper.learn_one(y)
        if k == 70:
            wrapper = forecaster_from_state(json.loads(json.dumps(wrapper.to_state())))
        if k >= 12:
            assert wrapper.forecast(24) == river_model.forecast(24)
    stds = wrapper.forecast_std(12)
    assert all(b > a for a, b in zip(stds, stds[1:]))
