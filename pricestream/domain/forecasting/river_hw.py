"""A thin wrapper over ``river.time_series.HoltWinters`` with the common interface and a numeric state.

river's own model does the learning and the point forecasts (so its documented results reproduce);
the wrapper adds a predictive spread (the exponentially weighted mean squared one-step error,
propagated as additive Holt's method would) and a state of plain numbers: the river model's
parameters and its components' values, never a pickle.
"""

from __future__ import annotations

import math
from typing import Any

from river import time_series

from pricestream.domain.forecasting.base import Forecaster, OneStepError, check_horizon, finite, register

__all__ = ["HoltWintersRiver"]


@register
class HoltWintersRiver(OneStepError, Forecaster):
    """``river.time_series.HoltWinters`` behind the ``Forecaster`` interface.

    Parameters are river's (``alpha``, ``beta``, ``gamma``, ``seasonality``, ``multiplicative``).
    river needs ``max(2, seasonality)`` values before it can forecast; until then the wrapper
    forecasts the mean of what it has seen. Not for raw counts with ``multiplicative=True``: river
    divides by its seasonal factors, and a zero in the first season makes one 0 (``ZeroDivisionError``
    at the next update); :class:`SeasonalExponentialSmoothing` is built for that.

    Examples
    --------
    >>> model = HoltWintersRiver(alpha=0.3, beta=0.1, gamma=0.6, seasonality=4, multiplicative=True)
    >>> for y in [10, 20, 30, 20, 12, 22, 33, 21, 13, 25, 35, 24]:
    ...     model.learn_one(y)
    >>> [round(v, 1) for v in model.forecast(4)]
    [16.0, 30.6, 44.9, 31.2]
    """

    kind = "HoltWintersRiver"

    def __init__(self, alpha: float = 0.3, beta: float | None = 0.1, gamma: float | None = 0.6,
                 seasonality: int = 12, multiplicative: bool = True, error_halflife: float | None = None):
        self.model = time_series.HoltWinters(alpha=alpha, beta=beta, gamma=gamma, seasonality=seasonality,
                                             multiplicative=multiplicative)
        self.error_halflife = float(error_halflife if error_halflife is not None else max(2 * seasonality, 24))
        self.sigma2 = 0.0
        self.n_errors = 0

    def learn_one(self, y: float) -> None:
        y = finite(y)
        if self.model._initialized:
            self._track_error(y - self.model.forecast(1)[0])
        self.model.learn_one(y)

    def forecast(self, horizon: int) -> list[float]:
        horizon = check_horizon(horizon)
        if not self.model._initialized:
            first = self.model._first_values
            return [sum(first) / len(first) if first else 0.0] * horizon
        return [float(v) for v in self.model.forecast(horizon)]

    def forecast_std(self, horizon: int) -> list[float]:
        """``sigma2 x (1 + sum_{j<h} alpha^2 (1 + j beta)^2)``, additive Holt's h-step variance."""
        horizon = check_horizon(horizon)
        a, b = self.model.alpha, self.model.beta or 0.0
        s2 = self.sigma2
        if not self.n_errors:
            first = self.model._first_values
            mean = sum(first) / len(first) if first else 0.0
            s2 = sum((v - mean) ** 2 for v in first) / (len(first) - 1) if len(first) > 1 else 0.0
        out, acc = [], 1.0
        for h in range(1, horizon + 1):
            out.append(math.sqrt(s2 * acc))
            acc += (a * (1.0 + h * b)) ** 2
        return out

    def to_state(self) -> dict[str, Any]:
        m = self.model
        return {
            "kind": self.kind, "alpha": m.alpha, "beta": m.beta, "gamma": m.gamma,
            "seasonality": m.seasonality, "multiplicative": m.multiplicative,
            "error_halflife": self.error_halflife,
            "level": [float(v) for v in m.level],
            "trend": [float(v) for v in m.trend] if m.trend is not None else None,
            "season": [float(v) for v in m.season] if m.season is not None else None,
            "first_values": [float(v) for v in m._first_values], "initialized": m._initialized,
            "sigma2": self.sigma2, "n_errors": self.n_errors,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HoltWintersRiver:
        w = cls(alpha=state["alpha"], beta=state["beta"], gamma=state["gamma"], seasonality=state["seasonality"],
                multiplicative=state["multiplicative"], error_halflife=state["error_halflife"])
        m = w.model
        m.level.extend(state["level"])
        if m.trend is not None and state["trend"] is not None:
            m.trend.extend(state["trend"])
        if m.season is not None and state["season"] is not None:
            m.season.extend(state["season"])
        m._first_values = list(state["first_values"])
        m._initialized = bool(state["initialized"])
        w.sigma2, w.n_errors = state["sigma2"], state["n_errors"]
        return w

    def __repr__(self) -> str:
        m = self.model
        return (f"HoltWintersRiver(alpha={m.alpha}, beta={m.beta}, gamma={m.gamma}, "
                f"seasonality={m.seasonality}, multiplicative={m.multiplicative})")
