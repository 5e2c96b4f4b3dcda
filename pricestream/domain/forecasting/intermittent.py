"""TSB (Teunter, Syntetos and Babai 2011) for intermittent demand: how often, and how much.

Slow movers sell in few periods: most periods are zero. TSB keeps two exponentially smoothed numbers,
the probability ``p`` that a period has demand (updated every period) and the size ``z`` of a
non-zero demand (updated when there is one), and forecasts ``p x z`` per period, flat. Unlike Croston,
``p`` decays during a long run of zeros, so an item that stopped selling is forecast to sell less
(Teunter, Syntetos and Babai, "Intermittent demand: linking forecasting to inventory obsolescence",
EJOR 214, 2011).

**Spread.** A period's demand is Bernoulli(p) x size: variance ``p (v + z^2) - (p z)^2``, with ``v``
the smoothed variance of the sizes. The sum over ``h`` periods adds, to ``h`` times that (periods
independent given the rate), the uncertainty of the rate estimate itself, which is shared by all
the periods of the horizon and so grows as ``h^2``: ``Var(p z)`` from the smoothing rates
(an exponentially smoothed mean with rate ``a`` has variance ``a / (2 - a)`` times the variance of
what it smooths). That makes the sum overdispersed, as a negative binomial (a Poisson whose rate is
uncertain) is.
"""

from __future__ import annotations

import math
from typing import Any

from pricestream.domain.forecasting.base import Forecaster, check_horizon, register

__all__ = ["IntermittentDemand"]


@register
class IntermittentDemand(Forecaster):
    """TSB forecaster: demand probability ``p`` and demand size ``z``, forecast ``p x z`` per period.

    Parameters
    ----------
    alpha
        Smoothing rate of the demand size (updated in periods with demand only).
    beta
        Smoothing rate of the demand probability (updated every period). Both rates start as running
        averages (``max(rate, 1 / n)``), so the first periods are not overweighted by a guess.

    Examples
    --------
    A slow mover: one or two units about every tenth period.

    >>> model = IntermittentDemand(alpha=0.1, beta=0.05)
    >>> for y in [0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0] * 5:
    ...     model.learn_one(y)
    >>> round(model.probability, 3), round(model.size, 2)
    (0.155, 1.33)
    >>> [round(v, 3) for v in model.forecast(3)]
    [0.206, 0.206, 0.206]
    >>> mean, var = model.total(30)
    >>> round(mean, 2), var > mean                     # overdispersed, like a negative binomial
    (6.19, True)
    """

    kind = "IntermittentDemand"

    def __init__(self, alpha: float = 0.1, beta: float = 0.02):
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.probability = 0.0     # p: probability that a period has demand
        self.size = 0.0            # z: mean size of a non-zero demand
        self.size_var = 0.0        # v: variance of the sizes
        self.n = 0                 # periods seen
        self.n_demand = 0          # periods with demand seen

    def learn_one(self, y: float) -> None:
        y = float(y)
        if not math.isfinite(y):
            raise ValueError(f"cannot learn a non-finite value {y!r}")
        self.n += 1
        b = max(self.beta, 1.0 / self.n)
        occurred = y > 0.0
        self.probability += b * ((1.0 if occurred else 0.0) - self.probability)
        if occurred:
            self.n_demand += 1
            a = max(self.alpha, 1.0 / self.n_demand)
            delta = y - self.size
            self.size += a * delta
            # exponentially weighted variance (West 1979 style incremental form)
            self.size_var = (1.0 - a) * (self.size_var + a * delta * delta)

    @property
    def rate(self) -> float:
        """Expected demand per period, ``p x z``."""
        return self.probability * self.size

    def forecast(self, horizon: int) -> list[float]:
        return [self.rate] * check_horizon(horizon)

    def _period_var(self) -> float:
        p, z, v = self.probability, self.size, self.size_var
        return max(p * (v + z * z) - (p * z) ** 2, 0.0)

    def _rate_var(self) -> float:
        """Variance of the estimate ``p z`` (delta method, p and z independent)."""
        p, z, v = self.probability, self.size, self.size_var
        b = max(self.beta, 1.0 / max(self.n, 1))
        a = max(self.alpha, 1.0 / max(self.n_demand, 1))
        var_p = b / (2.0 - b) * p * (1.0 - p)
        var_z = a / (2.0 - a) * v
        return z * z * var_p + p * p * var_z

    def forecast_std(self, horizon: int) -> list[float]:
        return [math.sqrt(self._period_var() + self._rate_var())] * check_horizon(horizon)

    def total(self, horizon: int) -> tuple[float, float]:
        """Mean ``h p z`` and variance ``h Var(period) + h^2 Var(p z)`` of the next ``h`` periods' sum.

        Periods are independent given the rate; the rate's estimation error is common to all of them.
        """
        h = check_horizon(horizon)
        return h * self.rate, h * self._period_var() + h * h * self._rate_var()

    _FIELDS = ("alpha", "beta", "probability", "size", "size_var", "n", "n_demand")

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.kind, **{name: getattr(self, name) for name in self._FIELDS}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IntermittentDemand:
        model = cls(alpha=state["alpha"], beta=state["beta"])
        for name in cls._FIELDS[2:]:
            setattr(model, name, state[name])
        return model

    def __repr__(self) -> str:
        return f"IntermittentDemand(alpha={self.alpha}, beta={self.beta})"
