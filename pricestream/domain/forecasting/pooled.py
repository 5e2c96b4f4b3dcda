"""Cold start: a new SKU borrows the seasonal profile and level of the SKUs already selling.

A SKU with a few days of history cannot estimate 24 hourly factors (nor 7 daily ones) from its own
sales. :class:`PooledPrior` holds what the catalogue has learned, pooled over SKUs (each SKU's
profile weighted by its level, so the busy ones, whose profiles are precise, count most), and starts
a new SKU's :class:`~pricestream.domain.forecasting.seasonal.SeasonalExponentialSmoothing` from it as
if the prior were ``strength`` periods of the SKU's own history. The model's warm-up averaging then
blends the SKU's own data in by the number of periods seen: after ``n`` own periods a level is
``(strength x pooled + n x own) / (strength + n)``-like, and the profile likewise in seasons, until
the ordinary smoothing rates take over. :func:`blend` is that weighting, on its own.

Profiles here are indexed by **absolute** position (hour of day 0..23, day of week 0..6), so a model
started from a prior must be told the position of its first period (``phase``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from pricestream.domain.forecasting.seasonal import SeasonalExponentialSmoothing

__all__ = ["PooledPrior", "blend"]


def blend(own: float, pooled: float, n: float, strength: float) -> float:
    """``own`` estimated from ``n`` periods, shrunk towards ``pooled`` worth ``strength`` periods.

    >>> blend(own=4.0, pooled=1.0, n=0, strength=48)
    1.0
    >>> blend(own=4.0, pooled=1.0, n=48, strength=48)
    2.5
    """
    total = n + strength
    return pooled if total <= 0 else (n * own + strength * pooled) / total


@dataclass
class PooledPrior:
    """A pooled seasonal profile and demand level for new SKUs.

    Parameters
    ----------
    profile
        Daily factors by absolute position in the season (mean 1 after normalisation).
    week
        Weekly factors by absolute season (day) in the week, or empty for none.
    level
        Typical demand per period of a new SKU (for instance the median level of its category).
    strength
        How many periods of the SKU's own history the prior is worth (default: two days of hours).

    Examples
    --------
    >>> prior = PooledPrior(profile=[0.5, 1.5], level=2.0, strength=8)
    >>> model = prior.start(season=2, phase=0)
    >>> model.forecast(4)                          # before any own sale: the pooled view
    [1.0, 3.0, 1.0, 3.0]
    >>> for y in [2, 6, 2, 6]:                     # this SKU sells twice as much
    ...     model.learn_one(y)
    >>> [round(v, 2) for v in model.forecast(2)]   # moving towards it, the profile kept
    [1.55, 4.6]
    """

    profile: list[float]
    level: float
    week: list[float] = field(default_factory=list)
    strength: float = 48.0

    def __post_init__(self):
        if not self.profile:
            raise ValueError("a pooled profile needs at least one factor")
        self.profile = _normalised(self.profile)
        self.week = _normalised(self.week) if self.week else []
        self.level = max(float(self.level), 0.0)

    @classmethod
    def from_models(cls, models: Iterable[SeasonalExponentialSmoothing], *, strength: float = 48.0,
                    level: float | None = None) -> PooledPrior:
        """Pool fitted models (same ``season``/``weekly``, profiles by absolute position).

        Profiles are averaged weighted by each model's level; the pooled level is the median of the
        levels unless given.
        """
        fitted = [m for m in models if m.ready]
        if not fitted:
            raise ValueError("no fitted model to pool")
        season, weekly = fitted[0].season, fitted[0].weekly
        if any(m.season != season or m.weekly != weekly for m in fitted):
            raise ValueError("models with different seasons cannot be pooled")
        weights = [max(m.level, 0.0) for m in fitted]
        if sum(weights) <= 0.0:
            weights = [1.0] * len(fitted)
        wsum = sum(weights)
        profile = [sum(w * m.daily[i] for w, m in zip(weights, fitted)) / wsum for i in range(season)]
        week = [sum(w * m.week[j] for w, m in zip(weights, fitted)) / wsum for j in range(len(fitted[0].week))]
        if level is None:
            levels = sorted(m.level for m in fitted)
            mid = len(levels) // 2
            level = levels[mid] if len(levels) % 2 else 0.5 * (levels[mid - 1] + levels[mid])
        return cls(profile=profile, level=level, week=week, strength=strength)

    def start(self, season: int | None = None, weekly: int | None = None, *, phase: int = 0,
              **params) -> SeasonalExponentialSmoothing:
        """A new :class:`SeasonalExponentialSmoothing` starting from this prior (ready to forecast).

        ``season``/``weekly`` default to the prior's shape; ``phase`` is the absolute position of the
        first period the model will learn; other keyword arguments are the model's parameters.
        """
        season = len(self.profile) if season is None else int(season)
        if season != len(self.profile):
            raise ValueError(f"the prior has {len(self.profile)} daily factors, the model {season}")
        if weekly is None and self.week:
            weekly = season * len(self.week)
        if weekly and weekly // season != len(self.week):
            raise ValueError(f"the prior has {len(self.week)} weekly factors, the model {weekly // season}")
        model = SeasonalExponentialSmoothing(season, weekly, phase=phase, **params)
        model.daily = list(self.profile)
        model.week = list(self.week) if weekly else []
        model.level = self.level
        model.trend = 0.0
        model.level_count = float(self.strength)
        # worth `strength` periods of seasons; at least two, so that the classical trend start (the
        # difference of the first two seasons' means) is skipped: it would read the gap between the
        # pooled level and the SKU's own as a trend
        model.seasons_seen = max(int(round(self.strength / season)), 2)
        model.first_mean = self.level
        # the pooled level's spread as Poisson counts, until the SKU's own errors replace it
        model.sigma2 = max(self.level, 1e-9)
        model.ready = True
        return model


def _normalised(values: list[float]) -> list[float]:
    vals = [max(float(v), 1e-3) for v in values]
    mean = sum(vals) / len(vals)
    return [v / mean for v in vals]
