"""Run several forecasters side by side and forecast with the one that has been most accurate lately.

Every candidate learns every period. Before a period's value is learned, each candidate's one-step
forecast of it is scored (``score_horizon=k``: its k-step forecast, made k periods earlier): the
selector keeps, per candidate, an exponentially weighted mean error (half-life ``halflife``
periods; a running average until then) and forecasts with the candidate whose error is lowest,
except that a near-tie (within ``tolerance``, 2 %) goes to the candidate listed first, the simpler
one. Per SKU, online: a SKU whose demand is intermittent ends up on the intermittent model, a
seasonal one on a seasonal model, and a SKU can move between them.

**Squared, not absolute, error by default** (``metric="mse"``; ``"mae"`` is available). The
candidates forecast the *mean* (what a reorder point needs), and the mean minimises squared error.
Absolute error is minimised by the median, which for a slow mover is 0: under MAE, a model that
forecasts 0, or seasonal naive echoing last week's mostly-zero hours, scores as well as an unbiased
intermittent model, and the choice between them is a coin toss (measured: on hourly demand of 0.5
units a day, MAE picked TSB about half of the time, MSE every time).

A candidate is only scored once it is *ready* (it has a real forecast, not a warm-up fallback) and
must have been scored ``min_scored`` times before it can be chosen; before any is, the first
ready candidate forecasts (the first listed if none is).
"""

from __future__ import annotations

import math
from typing import Any

from pricestream.domain.forecasting.base import Forecaster, check_horizon, ew_rate, forecaster_from_state, register
from pricestream.domain.forecasting.intermittent import IntermittentDemand
from pricestream.domain.forecasting.naive import SeasonalNaive
from pricestream.domain.forecasting.seasonal import SeasonalExponentialSmoothing

__all__ = ["ForecasterSelector", "default_candidates"]


def default_candidates(season: int = 24, weekly: int | None = None,
                       prior=None) -> list[tuple[str, Forecaster]]:
    """The default line-up, simplest first: TSB, seasonal Holt-Winters at three speeds, seasonal naive.

    No per-SKU fit: the three speeds of the seasonal model (:data:`SPEEDS`) span slowly changing,
    noisy hourly counts (``seasonal``: level half-life about 70 periods) to quickly changing,
    precise monthly-like series (``seasonal-fast``: about 2 periods), and the selector picks per
    SKU. TSB's demand probability has a half-life of three seasons. The values are round numbers
    across the usual ranges of exponential smoothing, not fitted per series; they were checked on
    synthetic hourly counts, statsmodels' El Nino (monthly) and river's AirlinePassengers, so the
    last is not an out-of-sample test of them.
    ``prior``, a :class:`~pricestream.domain.forecasting.pooled.PooledPrior`, starts the seasonal
    models from a pooled profile and level (cold start).
    """
    def seasonal(**params) -> SeasonalExponentialSmoothing:
        if prior is not None:
            return prior.start(season=season, weekly=weekly, **params)
        return SeasonalExponentialSmoothing(season, weekly, **params)

    return [
        ("intermittent", IntermittentDemand(alpha=0.1, beta=ew_rate(3 * season))),
        *((name, seasonal(**params)) for name, params in SPEEDS.items()),
        ("seasonal-naive", SeasonalNaive(season)),
    ]


#: Smoothing rates of the default seasonal candidates (the first is the model's own default).
SPEEDS: dict[str, dict[str, float]] = {
    "seasonal": dict(alpha=0.01, beta=0.002, phi=0.98, gamma=0.1, gamma_weekly=0.2),
    "seasonal-mid": dict(alpha=0.06, beta=0.01, phi=0.98, gamma=0.2, gamma_weekly=0.2),
    "seasonal-fast": dict(alpha=0.3, beta=0.1, phi=0.98, gamma=0.4, gamma_weekly=0.3),
}


def _ready(model: Forecaster) -> bool:
    """Whether ``model`` forecasts for real (not a warm-up mean)."""
    if isinstance(model, SeasonalExponentialSmoothing):
        return model.ready
    if isinstance(model, SeasonalNaive):
        return len(model.last) == model.season
    if isinstance(model, IntermittentDemand):
        return model.n_demand > 0
    ready = getattr(model, "ready", None)
    if ready is not None:
        return bool(ready)
    inner = getattr(model, "model", None)       # HoltWintersRiver
    return bool(getattr(inner, "_initialized", True))


@register
class ForecasterSelector(Forecaster):
    """Forecast with the candidate whose recent one-step error is lowest (near-ties: the first listed).

    Parameters
    ----------
    candidates
        ``(name, forecaster)`` pairs, simplest first (near-ties go to the earlier one). Default:
        :func:`default_candidates` for ``season`` and ``weekly``.
    season, weekly
        Passed to :func:`default_candidates` when ``candidates`` is not given; they also set the
        default ``halflife``.
    halflife
        Half-life, in periods, of the error average (default: the longer of two seasons and a week,
        at least 24 periods).
    min_scored
        Errors a candidate needs before it can be chosen.
    prior
        A pooled prior for the default candidates' seasonal models (cold start).
    metric
        ``"mse"`` (default) or ``"mae"``: see the module docstring.
    score_horizon
        Score each candidate's forecast made this many periods ahead (1: one-step errors).
    tolerance
        Relative margin within which the earlier-listed candidate is preferred.

    Examples
    --------
    >>> model = ForecasterSelector(season=4)
    >>> for y in [10, 20, 30, 20] * 10:
    ...     model.learn_one(y)
    >>> model.chosen in ("seasonal", "seasonal-fast", "seasonal-naive")
    True
    >>> [round(v) for v in model.forecast(4)]
    [10, 20, 30, 20]
    >>> model.errors()["seasonal-naive"]
    0.0
    """

    kind = "ForecasterSelector"

    def __init__(self, candidates: list[tuple[str, Forecaster]] | None = None, *, season: int = 24,
                 weekly: int | None = None, halflife: float | None = None, min_scored: int = 1, prior=None,
                 metric: str = "mse", score_horizon: int = 1, tolerance: float = 0.02):
        if metric not in ("mae", "mse"):
            raise ValueError(f"metric must be 'mae' or 'mse', got {metric!r}")
        if int(score_horizon) < 1:
            raise ValueError(f"score_horizon must be >= 1, got {score_horizon}")
        if candidates is None:
            candidates = default_candidates(season, weekly, prior)
        if not candidates:
            raise ValueError("a selector needs at least one candidate")
        names = [name for name, _ in candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must be unique, got {names}")
        self.names: list[str] = names
        self.models: list[Forecaster] = [model for _, model in candidates]
        self.metric = metric
        self.tolerance = float(tolerance)
        self.score_horizon = int(score_horizon)
        self.halflife = float(halflife if halflife is not None else max(2 * int(season), int(weekly or 0), 24))
        self.min_scored = int(min_scored)
        self.error: list[float] = [0.0] * len(names)     # EW mean absolute (or squared) error
        self.scored: list[int] = [0] * len(names)
        # per candidate, its forecasts of the next `score_horizon` periods' values made
        # `score_horizon`, ..., 1 periods ago (None: it was not ready then)
        self.pending: list[list[float | None]] = [[] for _ in names]
        self._best = self._choose()

    # -- choice ------------------------------------------------------------------------------------
    @property
    def chosen(self) -> str:
        """Name of the candidate the selector forecasts with now."""
        return self.names[self._best]

    @property
    def chosen_model(self) -> Forecaster:
        return self.models[self._best]

    def errors(self) -> dict[str, float | None]:
        """Recent mean absolute (``metric="mse"``: squared) error per candidate; None: not scored yet."""
        return {n: (e if c else None) for n, e, c in zip(self.names, self.error, self.scored)}

    def _choose(self) -> int:
        eligible = [k for k, count in enumerate(self.scored) if count >= self.min_scored]
        if not eligible:            # nothing scored yet: the first candidate that really forecasts
            return next((k for k, model in enumerate(self.models) if _ready(model)), 0)
        best_err = min(self.error[k] for k in eligible)
        # the first listed candidate within `tolerance` of the best: near-ties go to the simpler model
        return next(k for k in eligible if self.error[k] <= best_err * (1.0 + self.tolerance))

    # -- learning ----------------------------------------------------------------------------------
    def learn_one(self, y: float) -> None:
        y = float(y)
        if not math.isfinite(y):
            raise ValueError(f"cannot learn a non-finite value {y!r}")
        base_rate = ew_rate(self.halflife)
        h = self.score_horizon
        for k, model in enumerate(self.models):
            queue = self.pending[k]
            if h == 1:                       # the common case: score the one-step forecast directly
                queue.clear()
                queue.append(model.forecast(1)[0] if _ready(model) else None)
            if len(queue) >= h:
                forecast = queue.pop(0)
                if forecast is not None:
                    err = y - forecast
                    err = err * err if self.metric == "mse" else abs(err)
                    rate = max(base_rate, 1.0 / (self.scored[k] + 1))
                    self.error[k] += rate * (err - self.error[k])
                    self.scored[k] += 1
            model.learn_one(y)
            if h > 1:
                queue.append(model.forecast(h)[h - 1] if _ready(model) else None)
        self._best = self._choose()

    def hold_one(self) -> None:
        """A period the baseline must not learn from (a holiday the calendar explains, whose lift is
        being learned against this very baseline: learning both from the same views would let them
        trade off and drift). Each candidate steps on by its own forecast, so levels and profiles stay
        where they were and the seasonal position moves on; nothing is scored. The intermittent model
        has no position in time and is left alone."""
        h = self.score_horizon
        for k, model in enumerate(self.models):
            if isinstance(model, IntermittentDemand):
                continue
            model.learn_one(max(model.forecast(1)[0], 0.0))
            if h > 1:
                queue = self.pending[k]
                if len(queue) >= h:
                    queue.pop(0)
                queue.append(model.forecast(h)[h - 1] if _ready(model) else None)

    # -- forecasting: the chosen candidate's ------------------------------------------------------
    def forecast(self, horizon: int) -> list[float]:
        return self.chosen_model.forecast(check_horizon(horizon))

    def forecast_std(self, horizon: int) -> list[float]:
        return self.chosen_model.forecast_std(check_horizon(horizon))

    def total(self, horizon: int) -> tuple[float, float]:
        return self.chosen_model.total(check_horizon(horizon))

    # -- state -------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"kind": self.kind, "names": list(self.names), "models": [m.to_state() for m in self.models],
                "halflife": self.halflife, "min_scored": self.min_scored, "metric": self.metric,
                "tolerance": self.tolerance, "score_horizon": self.score_horizon, "error": list(self.error), "scored": list(self.scored),
                "pending": [list(q) for q in self.pending]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ForecasterSelector:
        candidates = [(name, forecaster_from_state(s)) for name, s in zip(state["names"], state["models"])]
        model = cls(candidates, halflife=state["halflife"], min_scored=state["min_scored"], metric=state["metric"],
                    score_horizon=state["score_horizon"], tolerance=state["tolerance"])
        model.error = [float(v) for v in state["error"]]
        model.pending = [list(q) for q in state["pending"]]
        model.scored = [int(v) for v in state["scored"]]
        model._best = model._choose()
        return model

    def __repr__(self) -> str:
        return f"ForecasterSelector(candidates={self.names}, chosen={self.chosen!r})"
