"""The interface every demand forecaster implements, and the registry that restores one from its state.

A forecaster sees one number per closed period, in order (``learn_one``), and forecasts the next
periods: their means (``forecast``), their predictive standard deviations (``forecast_std``) and the
mean and variance of their sum (``total``), which is what a reorder point needs (demand over the lead
time). Its whole state is a small JSON-able dict (``to_state``/``from_state``): the engine writes it
to a Kafka changelog after every period, so it holds plain numbers, a few hundred at most.

The state dict carries the class name under ``"kind"``; :func:`forecaster_from_state` restores any
registered forecaster from it without knowing its class in advance.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

__all__ = ["Forecaster", "forecaster_from_state", "register", "KINDS"]

KINDS: dict[str, type[Forecaster]] = {}


def register(cls: type[Forecaster]) -> type[Forecaster]:
    """Class decorator: make ``cls`` restorable by :func:`forecaster_from_state` under its ``kind``."""
    KINDS[cls.kind] = cls
    return cls


def forecaster_from_state(state: dict[str, Any]) -> Forecaster:
    """Restore any registered forecaster from the dict its ``to_state`` returned.

    >>> from pricestream.domain.forecasting import IntermittentDemand
    >>> f = IntermittentDemand()
    >>> for y in [0, 0, 3, 0, 1]:
    ...     f.learn_one(y)
    >>> g = forecaster_from_state(f.to_state())
    >>> type(g).__name__, g.forecast(2) == f.forecast(2)
    ('IntermittentDemand', True)
    """
    try:
        cls = KINDS[state["kind"]]
    except KeyError:
        raise ValueError(f"unknown forecaster state kind {state.get('kind')!r}; known: {sorted(KINDS)}") from None
    return cls.from_state(state)


class Forecaster(ABC):
    """An online forecaster of one number per period (units sold per period, for a SKU).

    Subclasses implement ``learn_one``, ``forecast``, ``forecast_std``, ``to_state`` and
    ``from_state``; ``total`` defaults to the sum of the step means and of the step variances,
    that is, it **assumes the forecast errors of different steps are independent** (subclasses whose
    errors are correlated through their state override it).
    """

    kind: ClassVar[str] = "Forecaster"

    @abstractmethod
    def learn_one(self, y: float) -> None:
        """Update with the observed value of the period that just closed (periods in order)."""

    @abstractmethod
    def forecast(self, horizon: int) -> list[float]:
        """Forecast means of the next ``horizon`` periods (steps 1..horizon)."""

    @abstractmethod
    def forecast_std(self, horizon: int) -> list[float]:
        """Predictive standard deviation of each of the next ``horizon`` periods."""

    def total(self, horizon: int) -> tuple[float, float]:
        """Mean and variance of the sum of the next ``horizon`` values.

        The default sums the step means and the step variances: it assumes independent errors.
        """
        if horizon <= 0:
            return 0.0, 0.0
        mean = math.fsum(self.forecast(horizon))
        var = math.fsum(s * s for s in self.forecast_std(horizon))
        return mean, var

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """A JSON-serialisable dict (plain numbers and lists) that ``from_state`` restores exactly."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Forecaster:
        """The forecaster ``to_state`` described."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_horizon(horizon: int) -> int:
    """``horizon`` as an int >= 0 (a negative horizon is a caller's bug)."""
    h = int(horizon)
    if h < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon!r}")
    return h


def finite(y: float) -> float:
    """``y`` as a float; a non-finite observation is a caller's bug, not data."""
    y = float(y)
    if not math.isfinite(y):
        raise ValueError(f"cannot learn a non-finite value {y!r}")
    return y


class OneStepError:
    """Mixin: the running, exponentially weighted mean squared one-step error (``sigma2``).

    Early on, while fewer than ``1 / rate`` errors are known, it is their plain mean.
    """

    error_halflife: float
    sigma2: float
    n_errors: int

    def _track_error(self, err: float) -> None:
        rate = max(ew_rate(self.error_halflife), 1.0 / (self.n_errors + 1))
        self.sigma2 += rate * (err * err - self.sigma2)
        self.n_errors += 1


def ew_rate(halflife: float) -> float:
    """The exponential-weighting rate whose weights halve every ``halflife`` updates.

    >>> round(ew_rate(1.0), 3)
    0.5
    """
    return 1.0 - 0.5 ** (1.0 / max(float(halflife), 1e-9))
