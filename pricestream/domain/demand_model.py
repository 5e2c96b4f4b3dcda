"""A SKU's demand, learned from the stream: traffic x conversion(price).

Units sold in a period = page views x the chance that a view buys. The two are learned apart, which
is what makes the model usable for pricing:

- **page views** do not depend on our price; they carry the seasonality and trend, and there are many
  more of them than sales. An online forecaster (``pricestream.domain.forecasting``) learns them once
  per closed period;
- **conversion** depends on our price and the competitor's; ``ElasticityEstimator`` learns it.

So the expected units at any price the pricing policy considers, and over any horizon the restock
policy needs, are ``views forecast x conversion(price)``. Events only count (``PeriodCounts``, kept in
the SKU's state); the models learn at ``close_period``, once per SKU per tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pricestream.domain.elasticity import ElasticityEstimator
from pricestream.domain.forecasting import ForecasterSelector

DAY_MS = 86_400_000
MAX_WEEKLY_SEASON = 7 * 24          # hourly periods: a weekly profile of 168 values, no finer
MAX_DAILY_SEASON = 96               # 15-minute periods: a daily profile of 96 values, no finer


@dataclass
class PeriodCounts:
    """What the events of the open period showed: counted per event, learned from at the tick."""
    views: int = 0
    units: int = 0
    stocked_out: bool = False       # stock hit zero: sales were cut short, not chosen

    def to_state(self) -> list:
        return [self.views, self.units, self.stocked_out]

    @classmethod
    def from_state(cls, d: list) -> "PeriodCounts":
        return cls(*d)


@dataclass
class DemandModel:
    elasticity: ElasticityEstimator
    views: ForecasterSelector | None = None          # made at the second tick, once the period length is known
    period_ms: int | None = None
    periods_closed: int = 0

    @classmethod
    def new(cls, reference_price: float, prior_elasticity: float = -2.0) -> "DemandModel":
        return cls(elasticity=ElasticityEstimator.new(reference_price, prior_elasticity=prior_elasticity))

    def close_period(self, closed: PeriodCounts, price: float | None, competitor_price: float | None,
                     period_ms: int | None) -> None:
        """Learn from the period just closed (``closed``: its counts; ``price``: what we charged)."""
        if period_ms is None or period_ms <= 0:
            return                        # the opening tick: no period behind it
        if self.views is None:
            self.period_ms = period_ms
            self.views = views_forecaster(period_ms)
        self.views.learn_one(float(closed.views))
        # a period that ran out of stock shows sales cut short, not what the price would sell
        if price is not None and not closed.stocked_out:
            self.elasticity.learn(closed.views, closed.units, price, competitor_price)
        self.periods_closed += 1

    # -- what policies ask -----------------------------------------------------------------------
    def expected_views(self, horizon: int = 1) -> tuple[float, float]:
        """Mean and variance of the page views over the next ``horizon`` periods."""
        if self.views is None:
            return 0.0, 0.0
        mean, var = self.views.total(horizon)
        return max(mean, 0.0), max(var, 0.0)

    def expected_units(self, price: float, competitor_price: float | None, horizon: int = 1) -> tuple[float, float]:
        """Mean and variance of units sold over the next ``horizon`` periods at ``price``.

        Variance: traffic uncertainty scaled by conversion, plus the Poisson noise of buying.
        """
        views_mean, views_var = self.expected_views(horizon)
        q = self.elasticity.conversion(price, competitor_price)
        mean = views_mean * q
        return mean, q * q * views_var + mean

    def forecast_model(self) -> str:
        return "none-yet" if self.views is None else self.views.chosen

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"elasticity": self.elasticity.to_state(),
                "views": None if self.views is None else self.views.to_state(),
                "period_ms": self.period_ms, "periods_closed": self.periods_closed}

    @classmethod
    def from_state(cls, d: dict) -> "DemandModel":
        return cls(elasticity=ElasticityEstimator.from_state(d["elasticity"]),
                   views=None if d["views"] is None else ForecasterSelector.from_state(d["views"]),
                   period_ms=d["period_ms"], periods_closed=d["periods_closed"])


def views_forecaster(period_ms: int) -> ForecasterSelector:
    """A forecaster whose seasons fit the period: a daily one, and a weekly one when it stays small."""
    per_day = DAY_MS / period_ms
    if per_day < 2 or per_day > MAX_DAILY_SEASON or abs(per_day - round(per_day)) > 1e-9:
        # periods of a day or more, shorter than 15 minutes, or not dividing a day: no daily profile
        return ForecasterSelector(season=1)
    season = int(round(per_day))
    weekly = 7 * season if 7 * season <= MAX_WEEKLY_SEASON else None
    return ForecasterSelector(season=season, weekly=weekly)


def units_std(variance: float) -> float:
    return math.sqrt(max(variance, 0.0))
