"""Online multiplicative Holt-Winters for demand counts: level, damped trend, daily and weekly profile.

The demand of period ``t`` is forecast as ``(level + damped trend) x daily[t] x weekly[t]``: the daily
profile has one factor per position in the season (``season`` periods, 24 for hourly periods) and the
optional weekly profile one factor per season in the week (``weekly // season`` factors, 7 day factors
for hourly periods), both averaging 1. It is exponential smoothing in error-correction form (Hyndman
et al. 2008, ETS(A,Ad,M)-like), written for counts that are zero most periods:

* **Zeros are fine.** Nothing is logged and nothing is divided by an observation. The level moves by
  ``alpha x error x s^(1 - variance_power)``: with ``variance_power=1`` (the default, Poisson-like
  counts) every period's error counts the same in units, so one sale in a quiet hour (a small seasonal
  factor) does not throw the level as a ratio ``y / s`` would; ``variance_power=2`` gives classical
  multiplicative Holt-Winters (relative errors, the ``y / s`` update).
* **Seasonal factors are shrunk.** A factor learns from ``(y + prior_counts x s) / (expected +
  prior_counts)`` rather than ``y / expected``: unbiased when the profile is right, and a quiet
  period's zero or one sale moves it much less (``prior_counts`` is a pseudo-count, in units).
* **Warm-up by averaging.** The first ``season`` values are buffered; then level = their mean, trend
  0, daily factors from them (shrunk). The smoothing rates start as running averages: the daily
  factors average the first seasons (rate ``max(gamma, 1 / seasons seen)``), the weekly factors the
  first weeks, so a profile is usable after a few seasons, not after ``1 / gamma`` of them. At the end
  of the second season the trend starts at the difference of the two seasons' means (as in the
  classical Holt-Winters start).

**Predictive spread.** The one-step errors are tracked as an exponentially weighted mean ``sigma2`` of
``error^2 / s^variance_power`` (so the variance of a period is ``sigma2 x s^variance_power``, which for
counts means it grows with the period's mean). The h-step variance adds how each future error moves
the level and trend (the state-space formula ``sigma2 x (1 + sum c_j^2)``, with this model's
weights); ``total(h)`` accounts for the same propagation, so errors of the steps of one lead time are
correlated through the level, as they are (summing step variances would understate the spread of a
lead time's demand). What one-step errors cannot see, a level or profile that is persistently off,
is measured on the data: at each season's end the forecast of that season's sum (made at its start)
is compared with the actual sum, and the excess of its squared error over the model's variance, relative
to the squared mean, is averaged into ``tau2``; ``tau2 x (a season's mean sum)^2`` is added per season
of the horizon (persistent within a season, independent between seasons). On hourly Poisson data with
daily and weekly profiles this keeps lead-time totals calibrated (z-scores with sd 0.8-1.1 for 1 to 5
days ahead, about 90 % inside +-1.645 sd; ``tests/unit/domain/forecasting/test_seasonal.py``). Not
modelled: the (small) effect of future seasonal updates on later steps.

Seasons are counted from the first value learned: ``phase`` says where in the (weekly if any, else
daily) cycle that first period lies, which matters only when a pooled profile indexed by hour of day
(:class:`~pricestream.domain.forecasting.pooled.PooledPrior`) is supplied.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pricestream.domain.forecasting.base import Forecaster, check_horizon, ew_rate, register

__all__ = ["SeasonalExponentialSmoothing"]

_S_FLOOR = 1e-3      # seasonal factors never reach 0 (a profile can always come back)
_S_CEIL = 1e3


@register
class SeasonalExponentialSmoothing(Forecaster):
    """Online damped-trend Holt-Winters with a daily and an optional weekly multiplicative profile.

    Parameters
    ----------
    season
        Periods per daily cycle (24 for hourly periods; 12 for monthly data with yearly seasonality;
        1 for no seasonality).
    weekly
        Periods per weekly cycle (168 for hourly periods), a multiple of ``season``; ``None``/0: no
        weekly profile. The weekly profile has ``weekly // season`` factors (one per day).
    alpha, beta, gamma, gamma_weekly
        Smoothing rates of the level, the trend, the daily and the weekly factors (per update: the
        daily factor of a position is updated once a season, a weekly factor once a week).
    phi
        Trend damping (0 < phi <= 1): a trend ``b`` adds ``b (phi + ... + phi^h)`` h steps ahead.
    variance_power
        1 (default): Poisson-like counts, variance proportional to the mean; 2: relative errors
        (classical multiplicative Holt-Winters); 0: constant variance. Sets both the error weighting
        of the level update and the variance model.
    prior_counts
        Shrinkage pseudo-count of the seasonal factor updates, in the units of ``y`` (0 disables).
    error_halflife
        Half-life, in periods, of the running mean squared error (default: two seasons, at least 24).
    phase
        Position, in the cycle, of the first period learned (see the module docstring).

    Examples
    --------
    Hourly Poisson demand with a daily profile (busy evenings, quiet nights):

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> profile = [0.2] * 8 + [1.0] * 10 + [2.2] * 6          # mean 1
    >>> model = SeasonalExponentialSmoothing(season=24)
    >>> for t in range(24 * 60):
    ...     model.learn_one(float(rng.poisson(2.0 * profile[t % 24])))
    >>> day = model.forecast(24)
    >>> [round(sum(day[:8]), 1), round(sum(day[8:18]), 1), round(sum(day[18:]), 1)]   # truth: 3.2, 20, 26.4
    [3.1, 21.3, 27.1]
    >>> mean, var = model.total(48)                     # the next two days (truth: 96, Poisson sd 9.8)
    >>> round(mean), round(var ** 0.5, 1)
    (103, 11.9)
    """

    kind = "SeasonalExponentialSmoothing"

    def __init__(self, season: int = 24, weekly: int | None = None, *, alpha: float = 0.01, beta: float = 0.002,
                 phi: float = 0.98, gamma: float = 0.1, gamma_weekly: float = 0.2, variance_power: float = 1.0,
                 prior_counts: float = 1.0, error_halflife: float | None = None, phase: int = 0,
                 smooth_week: bool = True, calibration_halflife: float = 8.0):
        season = int(season)
        if season < 1:
            raise ValueError(f"season must be >= 1, got {season}")
        weekly = int(weekly or 0)
        if weekly and (weekly % season or weekly <= season):
            raise ValueError(f"weekly ({weekly}) must be a multiple of season ({season}) larger than it")
        for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma), ("gamma_weekly", gamma_weekly)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not 0.0 < phi <= 1.0:
            raise ValueError(f"phi must be in (0, 1], got {phi}")
        self.season = season
        self.weekly = weekly
        self.alpha, self.beta, self.phi = float(alpha), float(beta), float(phi)
        self.gamma, self.gamma_weekly = float(gamma), float(gamma_weekly)
        self.variance_power = float(variance_power)
        self.prior_counts = float(prior_counts)
        self.error_halflife = float(error_halflife if error_halflife is not None else max(2 * season, 24))
        self.phase = int(phase)
        self.smooth_week = bool(smooth_week)
        self.calibration_halflife = float(calibration_halflife)
        n_week = weekly // season if weekly else 0
        # state
        self.t = 0                    # values learned
        self.ready = False            # level, trend and profile initialised
        self.buffer: list[float] = []  # the first season, until initialised
        self.level = 0.0
        self.trend = 0.0
        self.daily = [1.0] * season
        self.week = [1.0] * n_week
        self.seasons_seen = 0         # complete seasons since initialisation (the first one included)
        self.first_mean = 0.0         # mean of the first season, for the trend start
        self.second_sum = 0.0         # running sum over the second season
        self.bucket_y = 0.0           # current weekly bucket (day): observed and expected-without-week sums
        self.bucket_fit = 0.0
        self.level_count = 0.0        # (pseudo-)periods behind the level: its rate is max(alpha, 1/(count+1))
        self.sigma2 = 0.0             # EW mean of error^2 / s^variance_power
        self.n_errors = 0
        # calibration of multi-step spread: each season's sum, forecast at its start, against the truth
        self.cal_mean = -1.0          # forecast mean of the current season's sum (-1: none pending)
        self.cal_var = 0.0            # ... and the model's variance for it
        self.cal_sum = 0.0            # the current season's sum so far
        self.tau2 = 0.0               # EW mean of the relative excess squared error of season sums
        self.n_cal = 0

    # -- the profile -------------------------------------------------------------------------------
    def _pos(self, t: int) -> tuple[int, int]:
        """(daily index, weekly index) of period number ``t`` (counted from the first value learned)."""
        p = self.phase + t
        n_week = len(self.week)
        return p % self.season, ((p // self.season) % n_week) if n_week else 0

    def _week_factor(self, t: int) -> float:
        """Weekly factor of period ``t``: linear between the day factors, each anchored mid-day."""
        week = self.week
        if not week:
            return 1.0
        if not self.smooth_week:
            return week[self._pos(t)[1]]
        m = self.season
        u = (self.phase + t + 0.5) / m - 0.5          # position in days, 0 = the middle of day 0
        j0 = math.floor(u)
        f = u - j0
        n = len(week)
        return (1.0 - f) * week[j0 % n] + f * week[(j0 + 1) % n]

    def _factor(self, t: int) -> float:
        return self.daily[(self.phase + t) % self.season] * self._week_factor(t)

    def seasonal_factors(self, horizon: int) -> list[float]:
        """Seasonal factor (daily x weekly) of each of the next ``horizon`` periods."""
        horizon = check_horizon(horizon)
        m, start, daily = self.season, self.phase + self.t, self.daily
        if not self.week:
            return [daily[(start + k) % m] for k in range(horizon)]
        return [daily[(start + k) % m] * self._week_factor(self.t + k) for k in range(horizon)]

    # -- learning ----------------------------------------------------------------------------------
    def learn_one(self, y: float) -> None:
        y = float(y)
        if not math.isfinite(y):
            raise ValueError(f"cannot learn a non-finite value {y!r}")
        if not self.ready:
            self.buffer.append(y)
            self.t += 1
            if len(self.buffer) >= self.season:
                self._initialise()
            return
        t = self.t
        i, j = self._pos(t)
        w = self._week_factor(t)
        s = self.daily[i] * w
        base = self.level + self.phi * self.trend
        yhat = max(base * s, 0.0)
        err = y - yhat
        p = self.variance_power

        # running mean squared error (averaged while few errors have been seen)
        rate = max(ew_rate(self.error_halflife), 1.0 / (self.n_errors + 1))
        self.sigma2 += rate * (err * err / s ** p - self.sigma2)
        self.n_errors += 1

        # level and damped trend
        a = max(self.alpha, 1.0 / (self.level_count + 1.0))
        self.level_count += 1.0
        level = max(base + a * err * s ** (1.0 - p), 0.0)
        self.trend = self.beta * (level - self.level) + (1.0 - self.beta) * self.phi * self.trend
        self.level = level

        # daily factor of this position, shrunk towards its current value
        kappa = self.prior_counts
        expected = max(base * w, 0.0)
        if expected + kappa > 0.0:
            ratio = (y + kappa * self.daily[i]) / (expected + kappa)
            g = max(self.gamma, 1.0 / (self.seasons_seen + 1))
            self.daily[i] = min(max(self.daily[i] + g * (ratio - self.daily[i]), _S_FLOOR), _S_CEIL)

        # weekly factor: ratio of sums over the whole day, updated once the day is over
        if self.week:
            self.bucket_y += y
            self.bucket_fit += max(base * self.daily[i], 0.0)

        # trend start: difference of the first two seasons' means
        if self.seasons_seen == 1:
            self.second_sum += y
        self.cal_sum += y

        self.t = t + 1
        if (self.phase + self.t) % self.season == 0:
            self._end_of_season(j)

    def _end_of_season(self, j: int) -> None:
        self.seasons_seen += 1
        if self.seasons_seen == 2 and self.beta > 0.0:
            # a full second season has been seen since initialisation (t = 2 x season at phase 0)
            second_mean = self.second_sum / self.season
            self.trend = (second_mean - self.first_mean) / self.season
        if self.week:
            kappa = self.prior_counts
            if self.bucket_fit + kappa > 0.0:
                ratio = (self.bucket_y + kappa * self.week[j]) / (self.bucket_fit + kappa)
                weeks_seen = self.seasons_seen // len(self.week)
                g = max(self.gamma_weekly, 1.0 / (weeks_seen + 1))
                self.week[j] = min(max(self.week[j] + g * (ratio - self.week[j]), _S_FLOOR), _S_CEIL)
            self.bucket_y = self.bucket_fit = 0.0
            self.week = _renormalise(self.week, self)
        self.daily = _renormalise(self.daily, self)
        self._calibrate()

    def _calibrate(self) -> None:
        """At a season's end: score the season-sum forecast made at its start, forecast the next.

        ``tau2`` estimates the relative variance of errors that persist over a season (a level or
        profile that is off), which the one-step errors cannot see: the excess of the squared error of
        a season's sum over the model's variance for it, relative to the squared mean.
        """
        if self.cal_mean > 0.0:
            excess = ((self.cal_sum - self.cal_mean) ** 2 - self.cal_var) / (self.cal_mean * self.cal_mean)
            rate = max(ew_rate(self.calibration_halflife), 1.0 / (self.n_cal + 1))
            self.tau2 += rate * (excess - self.tau2)
            self.n_cal += 1
        self.cal_mean, self.cal_var = self._model_total(self.season)
        self.cal_sum = 0.0

    def _initialise(self) -> None:
        buf = self.buffer
        m = self.season
        level = sum(buf) / len(buf)
        kappa = self.prior_counts
        daily = [1.0] * m
        for k, y in enumerate(buf):
            i = (self.phase + k) % m
            denom = level + kappa
            daily[i] = min(max((y + kappa) / denom, _S_FLOOR), _S_CEIL) if denom > 0 else 1.0
        self.daily = daily
        self.level = level
        self.level_count = float(len(buf))
        # trend: none until the second season's mean gives the difference of the seasons' means (the mean
        # step within the first season, river's start, is mostly the season's own shape: for hourly counts,
        # evening minus midnight)
        self.trend = 0.0
        self.first_mean = level
        self.second_sum = 0.0
        self.daily = _renormalise(self.daily, self)
        # spread before any one-step error is known: the first season's spread around its mean
        if len(buf) > 1:
            self.sigma2 = sum((y - level) ** 2 for y in buf) / (len(buf) - 1)
        else:
            self.sigma2 = max(level, 0.0)
        self.buffer = []
        self.ready = True
        self.seasons_seen = 1

    # -- forecasting -------------------------------------------------------------------------------
    def _warmup_mean_var(self) -> tuple[float, float]:
        buf = self.buffer
        if not buf:
            return 0.0, 0.0
        mean = sum(buf) / len(buf)
        var = sum((y - mean) ** 2 for y in buf) / (len(buf) - 1) if len(buf) > 1 else max(mean, 0.0)
        return mean, var

    def _damped(self, horizon: int) -> np.ndarray:
        """phi_h = phi + ... + phi^h for h = 1..horizon."""
        powers = self.phi ** np.arange(1, horizon + 1)
        return np.cumsum(powers)

    def forecast(self, horizon: int) -> list[float]:
        horizon = check_horizon(horizon)
        if not self.ready:
            return [self._warmup_mean_var()[0]] * horizon
        return self._means(self.seasonal_factors(horizon))

    def _means(self, factors: list[float]) -> list[float]:
        out = []
        level, trend, phi = self.level, self.trend, self.phi
        damped = 0.0
        power = 1.0
        for s in factors:
            power *= phi
            damped += power
            out.append(max((level + damped * trend) * s, 0.0))
        return out

    def forecast_std(self, horizon: int) -> list[float]:
        horizon = check_horizon(horizon)
        if not self.ready:
            return [math.sqrt(self._warmup_mean_var()[1])] * horizon
        s = np.array(self.seasonal_factors(horizon))
        p = self.variance_power
        damped = np.concatenate(([0.0], self._damped(horizon)))
        # var_h = sigma2 [ s_h^p + alpha^2 s_h^2 sum_{k<h} s_k^(2-p) (1 + beta phi_{h-k})^2 ]
        h_idx = np.arange(horizon)
        lag = h_idx[:, None] - h_idx[None, :]                      # h - k
        coef = np.where(lag > 0, (1.0 + self.beta * damped[np.clip(lag, 0, None)]) ** 2, 0.0)
        prop = (self.alpha ** 2) * (s ** 2) * (coef @ (s ** (2.0 - p)))
        var = self.sigma2 * (s ** p + prop) + max(self.tau2, 0.0) * np.asarray(self._means(s.tolist())) ** 2
        return np.sqrt(np.maximum(var, 0.0)).tolist()

    def total(self, horizon: int) -> tuple[float, float]:
        """Mean and variance of the sum of the next ``horizon`` values.

        The variance propagates each future period's error through the level and trend to the later
        periods of the horizon (errors of different periods independent, their effects not):
        ``sigma2 x sum_k s_k^p (1 + alpha s_k^(1-p) (A_k + beta T_k))^2`` with ``A_k`` the sum of
        the seasonal factors after step k and ``T_k`` the same weighted by the damped trend; plus
        ``tau2 x mean^2``, the persistent error measured on past seasons' sums (see ``_calibrate``).
        """
        horizon = check_horizon(horizon)
        if horizon == 0:
            return 0.0, 0.0
        if not self.ready:
            mean, var = self._warmup_mean_var()
            return mean * horizon, var * horizon
        factors = self.seasonal_factors(horizon)
        means = self._means(factors)
        mean, var = self._model_total(horizon, factors, means)
        return mean, var + self._excess_var(means)

    def _excess_var(self, means: list[float]) -> float:
        """``tau2 x`` the sum over the horizon's seasons (chunks of ``season`` steps) of their squared
        mean sums: a persistent error is shared within a season, independent between seasons."""
        tau2 = max(self.tau2, 0.0)
        if tau2 == 0.0:
            return 0.0
        m = self.season
        return tau2 * math.fsum(math.fsum(means[k:k + m]) ** 2 for k in range(0, len(means), m))

    def _model_total(self, horizon: int, factors: list[float] | None = None,
                     means: list[float] | None = None) -> tuple[float, float]:
        """Mean and model variance (without ``tau2``) of the next ``horizon`` values' sum."""
        s = self.seasonal_factors(horizon) if factors is None else factors
        mean = math.fsum(self._means(s) if means is None else means)
        p, a, b, phi = self.variance_power, self.alpha, self.beta, self.phi
        after = 0.0         # A_k: sum of s_h for h > k
        damped_after = 0.0  # T_k: sum of s_h phi_{h-k} for h > k
        var = 0.0
        for k in range(horizon - 1, -1, -1):
            sk = s[k]
            c = 1.0 + a * sk ** (1.0 - p) * (after + b * damped_after)
            var += sk ** p * c * c
            after += sk
            damped_after = phi * (after + damped_after)
        return mean, self.sigma2 * var

    # -- state -------------------------------------------------------------------------------------
    _PARAMS = ("season", "weekly", "alpha", "beta", "phi", "gamma", "gamma_weekly", "variance_power",
               "prior_counts", "error_halflife", "phase", "smooth_week",
               "calibration_halflife")
    _STATE = ("t", "ready", "buffer", "level", "trend", "daily", "week", "seasons_seen", "first_mean",
              "second_sum", "bucket_y", "bucket_fit", "level_count", "sigma2", "n_errors", "cal_mean", "cal_var",
              "cal_sum", "tau2", "n_cal")

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"kind": self.kind}
        for name in self._PARAMS + self._STATE:
            value = getattr(self, name)
            state[name] = list(value) if isinstance(value, list) else value
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SeasonalExponentialSmoothing:
        params = {name: state[name] for name in cls._PARAMS}
        season, weekly = params.pop("season"), params.pop("weekly")
        model = cls(season, weekly, **params)
        for name in cls._STATE:
            value = state[name]
            setattr(model, name, [float(v) for v in value] if isinstance(value, list) else value)
        return model

    def __repr__(self) -> str:
        return (f"SeasonalExponentialSmoothing(season={self.season}, weekly={self.weekly or None}, "
                f"alpha={self.alpha}, beta={self.beta}, phi={self.phi}, gamma={self.gamma})")


def _renormalise(factors: list[float], model: SeasonalExponentialSmoothing) -> list[float]:
    """Factors rescaled to mean 1, the level and trend rescaled the other way (forecasts unchanged)."""
    c = sum(factors) / len(factors)
    if c <= 0.0 or abs(c - 1.0) < 1e-12:
        return factors
    model.level *= c
    model.trend *= c
    return [f / c for f in factors]
