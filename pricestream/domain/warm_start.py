"""Warm start: a SKU's first demand model from a ``ModelPrior`` fitted on its order history.

``pricestream bootstrap`` fits, per SKU, the price elasticity with its standard error, the level
(units per period) and the daily and weekly profiles, and publishes them on ``model-priors``. When the
engine creates the SKU's demand model at its first tick, the prior's elasticity and sd become the
elasticity's prior, and the conversion (units per view at the list price) is set so that the units
expected in the period just closed, at its hour and weekday, match what its views would buy:

    conversion = level x daily[hour] x weekly[weekday] x (period / prior period) / views
                 x (list price / reference price) ** elasticity

Without views in that period the default conversion stands. Times are UTC, as everywhere.

>>> weekday(0), hour_of_day(0)          # 1970-01-01 00:00 UTC was a Thursday
(3, 0)
"""

from __future__ import annotations

from pricestream.domain.demand_model import DemandModel
from pricestream.domain.elasticity import DEFAULT_PRIOR_CONVERSION
from schemas.records import ModelPrior

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MIN_CONVERSION = 1e-4       # a SKU that sold nothing lately still converts a little


def hour_of_day(t_ms):
    """UTC hour (0-23) of a time in ms; works on numpy arrays too."""
    return (t_ms // HOUR_MS) % 24


def weekday(t_ms):
    """UTC day of the week, Monday 0 to Sunday 6, of a time in ms; works on numpy arrays too."""
    return (t_ms // DAY_MS + 3) % 7


def seasonal_factor(prior: ModelPrior, t_ms: int) -> float:
    """The prior's multiplier at time ``t_ms``: its daily profile's hour times its weekly profile's day."""
    factor = 1.0
    if prior.daily_profile is not None:
        factor *= prior.daily_profile[hour_of_day(t_ms)]
    if prior.weekly_profile is not None:
        factor *= prior.weekly_profile[weekday(t_ms)]
    return factor


def expected_units(prior: ModelPrior, start_ms: int, length_ms: int) -> float:
    """Units the prior expects (at its reference price) in the period ``[start_ms, start_ms + length_ms)``."""
    return prior.units_per_period * length_ms / prior.period_ms * seasonal_factor(prior, start_ms + length_ms // 2)


def prior_conversion(prior: ModelPrior, list_price: float, views: int, end_ms: int, period_ms: int | None) -> float:
    """Units per view at ``list_price`` that make the period ending at ``end_ms`` sell what the prior expects.

    ``period_ms``: that period's length, when known (the prior's period otherwise).
    """
    if views <= 0:
        return DEFAULT_PRIOR_CONVERSION
    length = period_ms or prior.period_ms
    at_reference = expected_units(prior, end_ms - length, length) / views
    at_list = at_reference * (list_price / prior.reference_price) ** prior.elasticity
    return min(max(at_list, MIN_CONVERSION), 1.0)


def warm_demand_model(prior: ModelPrior, list_price: float, views: int, end_ms: int,
                      period_ms: int | None) -> DemandModel:
    """A SKU's first demand model, started from its prior instead of the pool's."""
    return DemandModel.new(list_price, prior_elasticity=prior.elasticity, prior_elasticity_sd=prior.elasticity_sd,
                           prior_conversion=prior_conversion(prior, list_price, views, end_ms, period_ms))
