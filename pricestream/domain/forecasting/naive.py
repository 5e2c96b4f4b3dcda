"""Seasonal naive: the next period is the same period one season ago (the baseline to beat)."""

from __future__ import annotations

import math
from typing import Any

from pricestream.domain.forecasting.base import Forecaster, OneStepError, check_horizon, finite, register

__all__ = ["SeasonalNaive"]


@register
class SeasonalNaive(OneStepError, Forecaster):
    """Forecast ``y[t + h - season * k]``: the latest value at the same position in the season.

    Before a full season has been seen it forecasts the mean of what it has. The spread is that of a
    seasonal random walk (each position of the season a random walk of its own, innovations of
    variance ``sigma2``, the exponentially weighted mean squared one-step error): the h-step variance
    is ``sigma2 x ceil(h / season)``, and ``total`` adds the correlation of the steps that share a
    position.

    Parameters
    ----------
    season
        Periods per season (24 for hourly periods and a daily cycle).
    error_halflife
        Half-life, in periods, of the running mean squared error (default: two seasons, at least 24).

    Examples
    --------
    >>> model = SeasonalNaive(season=3)
    >>> for y in [1, 5, 2, 1, 6, 2]:
    ...     model.learn_one(y)
    >>> model.forecast(5)
    [1.0, 6.0, 2.0, 1.0, 6.0]
    """

    kind = "SeasonalNaive"

    def __init__(self, season: int = 24, error_halflife: float | None = None):
        if int(season) < 1:
            raise ValueError(f"season must be >= 1, got {season}")
        self.season = int(season)
        self.error_halflife = float(error_halflife if error_halflife is not None else max(2 * self.season, 24))
        self.last: list[float] = []      # the last `season` values, oldest first
        self.sigma2 = 0.0
        self.n_errors = 0

    def learn_one(self, y: float) -> None:
        y = finite(y)
        if len(self.last) == self.season:
            self._track_error(y - self.last[0])
            self.last.pop(0)
        self.last.append(y)

    def forecast(self, horizon: int) -> list[float]:
        horizon = check_horizon(horizon)
        if len(self.last) < self.season:
            mean = sum(self.last) / len(self.last) if self.last else 0.0
            return [mean] * horizon
        m = self.season
        return [self.last[k % m] for k in range(horizon)]

    def _sigma2(self) -> float:
        if self.n_errors:
            return self.sigma2
        if len(self.last) > 1:      # before any error: the spread of what has been seen
            mean = sum(self.last) / len(self.last)
            return sum((y - mean) ** 2 for y in self.last) / (len(self.last) - 1)
        return abs(self.last[0]) if self.last else 0.0

    def forecast_std(self, horizon: int) -> list[float]:
        s2 = self._sigma2()
        m = self.season
        return [math.sqrt(s2 * ((k // m) + 1)) for k in range(check_horizon(horizon))]

    def total(self, horizon: int) -> tuple[float, float]:
        """Mean and variance of the sum: a position seen ``r`` times in the horizon contributes
        ``sigma2 x (1^2 + ... + r^2)`` (its steps share their innovations)."""
        horizon = check_horizon(horizon)
        mean = math.fsum(self.forecast(horizon))
        m = self.season
        full, rest = divmod(horizon, m)
        squares = lambda r: r * (r + 1) * (2 * r + 1) / 6.0      # noqa: E731
        var = self._sigma2() * (rest * squares(full + 1) + (m - rest) * squares(full))
        return mean, var

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.kind, "season": self.season, "error_halflife": self.error_halflife,
                "last": list(self.last), "sigma2": self.sigma2, "n_errors": self.n_errors}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SeasonalNaive:
        model = cls(state["season"], state["error_halflife"])
        model.last = [float(v) for v in state["last"]]
        model.sigma2 = state["sigma2"]
        model.n_errors = state["n_errors"]
        return model

    def __repr__(self) -> str:
        return f"SeasonalNaive(season={self.season})"
