"""Online demand forecasting per SKU: one number (units sold) per closed period.

Every forecaster has the same small interface (:class:`Forecaster`): ``learn_one(y)`` once per closed
period, ``forecast(h)`` / ``forecast_std(h)`` per step, ``total(h)`` for the mean and variance of
the demand over a lead time, and a compact JSON-able ``to_state()`` / ``from_state()`` for the
changelog. Pure domain code: no Kafka, no Faust.

* :class:`SeasonalExponentialSmoothing`: level, damped trend, daily and weekly profile, zero-safe.
* :class:`IntermittentDemand`: TSB, for slow movers.
* :class:`SeasonalNaive`: the baseline.
* :class:`HoltWintersRiver`: river's Holt-Winters behind the same interface.
* :class:`ForecasterSelector`: runs several and forecasts with the recently most accurate (per SKU).
* :class:`PooledPrior`: cold start from a pooled profile and level.

>>> from pricestream.domain.forecasting import ForecasterSelector, forecaster_from_state
>>> import json
>>> model = ForecasterSelector(season=24)
>>> for t in range(24 * 14):
...     model.learn_one([0, 0, 1, 3, 2, 1][t % 6])
>>> restored = forecaster_from_state(json.loads(json.dumps(model.to_state())))
>>> restored.forecast(24) == model.forecast(24), restored.chosen == model.chosen
(True, True)
"""

from pricestream.domain.forecasting.base import Forecaster, forecaster_from_state
from pricestream.domain.forecasting.intermittent import IntermittentDemand
from pricestream.domain.forecasting.naive import SeasonalNaive
from pricestream.domain.forecasting.pooled import PooledPrior, blend
from pricestream.domain.forecasting.river_hw import HoltWintersRiver
from pricestream.domain.forecasting.seasonal import SeasonalExponentialSmoothing
from pricestream.domain.forecasting.selector import ForecasterSelector, default_candidates

__all__ = [
    "Forecaster", "forecaster_from_state", "SeasonalExponentialSmoothing", "IntermittentDemand", "SeasonalNaive",
    "HoltWintersRiver", "ForecasterSelector", "default_candidates", "PooledPrior", "blend",
]
