"""Calendar effects: holidays, campaigns and external signals as multipliers of a SKU's page views.

    views(t) = baseline(t) x exp(sum_k beta_k x_k(t))

``x_k(t)`` is effect k's level in period t: the share of the period a holiday or campaign covers, or
a signal's value (a weather index) times that share. ``beta_k`` is learned per SKU:

- **Online, for counts.** Each closed period is one Newton step of a negative-binomial regression
  with a log link (score ``x (y - m) / (1 + m / r)``, information ``x^2 m / (1 + m / r)``, ``m`` the
  lifted baseline): the online Laplace approximation of the posterior, exact enough for counts of a
  few views an hour, where a log-ratio regression would be biased low by Jensen's inequality. The
  size ``r`` (``BASELINE_SIZE``) allows for the baseline forecast's own error, so a busy SKU's hour
  is not taken as certain.
- **Pooled across SKUs.** A SKU meets an effect with a prior: the pool's estimate (the SKUs of its
  partition, weighted by their data), else the shop's guess in the entry (``expected_lift``), else no
  lift; with a standard deviation of ``LIFT_PRIOR_SD`` in the log (SKUs differ around the pool).
- **The baseline holds over a peak.** Over a holiday or campaign the view forecaster does not learn
  (it steps on by its own forecast, ``ForecasterSelector.hold_one``): the lift is measured against
  the baseline from before, which a week-long season cannot drag along (lift and level are learned
  from the same views and could otherwise trade off). Against learning ``views / lift`` throughout,
  a one-off comparison on ``holidays`` (a temporary switch, not kept) gave fuller shelves in the
  peaks for forecasts slightly further from the truth there. A signal is always on, so there the
  forecaster learns ``views / lift``.

The calendar is known ahead, so forecasts over a horizon multiply the baseline by the lifts of the
periods ahead, and the restock policy plans the lead time's demand with them (``window_lift``): it
orders ahead of a known peak. Only page views move: conversion, and so the price response, is the
elasticity model's. Pure: no Kafka, no Faust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from schemas.records import CalendarEntry

DAY_MS = 86_400_000
LIFT_PRIOR_SD = 0.5         # log-lift: a SKU's lift of an effect within a factor of about e^0.5 of the pool's
BASELINE_SIZE = 50.0        # negative-binomial size r: the baseline's own relative error, about 1/sqrt(r)
MAX_LOG_LIFT = 4.0          # a learned lift is kept within e^-4 .. e^4 (a step on a bad hour cannot run off)
PRIOR_PRECISION = 1.0 / LIFT_PRIOR_SD ** 2

Features = dict[str, float]


@dataclass(frozen=True, slots=True)
class CalendarView:
    """What one SKU's models see of the calendar at one tick: the entries that apply to it and are not
    over, the pool's learned log-lifts, and the tick's time (the start of what is ahead)."""
    now_ms: int
    entries: tuple[CalendarEntry, ...] = ()
    pool: Mapping[str, float] = field(default_factory=dict)

    def features(self, start_ms: int, end_ms: int) -> Features:
        """Each effect's level over ``[start_ms, end_ms)``: the time-weighted mean of its entries' values."""
        span = end_ms - start_ms
        x: Features = {}
        if span <= 0:
            return x
        for e in self.entries:
            overlap = min(end_ms, e.end_ms) - max(start_ms, e.start_ms)
            if overlap > 0:
                x[e.effect] = x.get(e.effect, 0.0) + e.value * overlap / span
        return x

    def touches(self, start_ms: int, end_ms: int) -> bool:
        """Whether any entry covers part of ``[start_ms, end_ms)``."""
        return any(e.start_ms < end_ms and e.end_ms > start_ms for e in self.entries)

    def pulse(self, start_ms: int, end_ms: int) -> bool:
        """Whether a holiday or campaign covers part of ``[start_ms, end_ms)`` (signals are always on;
        holidays and campaigns are departures from the usual the baseline must not learn)."""
        return any(e.kind != "signal" and e.start_ms < end_ms and e.end_ms > start_ms for e in self.entries)

    def prior(self, effect: str) -> float:
        """The log-lift a SKU starts from: the pool's, else the shop's guess, else none."""
        if effect in self.pool:
            return self.pool[effect]
        for e in self.entries:
            if e.effect == effect and e.expected_lift:
                # a guess is a multiplier at the entry's level; beta is per unit of level
                return math.log(e.expected_lift) / (e.value or 1.0)
        return 0.0

    def breakpoints(self, start_ms: int, end_ms: int) -> list[int]:
        """``start_ms``, ``end_ms`` and every entry boundary between them, sorted: the features are
        constant between two neighbours."""
        inner = {t for e in self.entries for t in (e.start_ms, e.end_ms) if start_ms < t < end_ms}
        return [start_ms, *sorted(inner), end_ms]


def view_for(sku: str, entries, pool: Mapping[str, float], now_ms: int) -> CalendarView | None:
    """The SKU's view of a partition's calendar, or None when no entry applies to it from ``now_ms``
    back one day on (the period just closed) -- then nothing calendar-related runs at all."""
    live = tuple(e for e in entries if e.end_ms > now_ms - DAY_MS and (e.skus is None or sku in e.skus))
    return CalendarView(now_ms, live, pool) if live else None


@dataclass
class CalendarEffects:
    """One SKU's learned log-lift per effect: posterior mean and precision (prior included)."""
    mean: dict[str, float] = field(default_factory=dict)
    precision: dict[str, float] = field(default_factory=dict)

    def estimate(self, effect: str, view: CalendarView) -> tuple[float, float]:
        """(mean, variance) of the effect's log-lift per unit of level: learned, else the prior."""
        if effect in self.mean:
            return self.mean[effect], 1.0 / self.precision[effect]
        return view.prior(effect), LIFT_PRIOR_SD ** 2

    def log_lift(self, x: Features, view: CalendarView) -> tuple[float, float]:
        """(mean, variance) of the log of the traffic multiplier at features ``x``."""
        mean = var = 0.0
        for effect, level in x.items():
            m, v = self.estimate(effect, view)
            mean += m * level
            var += v * level * level
        return mean, var

    def learn(self, x: Features, observed: float, baseline: float, view: CalendarView) -> float:
        """One period: ``observed`` views where the baseline forecast was ``baseline``. Updates each
        active effect and returns the lift now estimated for the period (what to divide it by)."""
        if not x or baseline <= 0:
            return 1.0
        for effect in x:
            if effect not in self.mean:
                self.mean[effect], self.precision[effect] = view.prior(effect), PRIOR_PRECISION
        m = baseline * math.exp(self.log_lift(x, view)[0])
        dispersion = 1.0 + m / BASELINE_SIZE
        for effect, level in x.items():
            if level == 0.0:
                continue
            self.precision[effect] += level * level * m / dispersion
            step = level * (observed - m) / dispersion / self.precision[effect]
            self.mean[effect] = min(max(self.mean[effect] + step, -MAX_LOG_LIFT), MAX_LOG_LIFT)
        return math.exp(self.log_lift(x, view)[0])

    def data_weight(self, effect: str) -> float:
        """The precision the SKU's own periods added to the prior's: its weight in the pool."""
        return self.precision.get(effect, PRIOR_PRECISION) - PRIOR_PRECISION

    def to_state(self) -> dict:
        return {k: [self.mean[k], self.precision[k]] for k in sorted(self.mean)}

    @classmethod
    def from_state(cls, d: dict | None) -> "CalendarEffects":
        d = d or {}
        return cls(mean={k: v[0] for k, v in d.items()}, precision={k: v[1] for k, v in d.items()})


def window_lift(effects: CalendarEffects, view: CalendarView | None, start_ms: int, end_ms: int,
                ) -> tuple[float, float]:
    """Mean traffic multiplier over ``[start_ms, end_ms)`` and the variance of that mean (the lifts'
    uncertainty, one draw for the whole window). (1, 0) without a calendar."""
    if view is None or end_ms <= start_ms:
        return 1.0, 0.0
    points = view.breakpoints(start_ms, end_ms)
    total = spread = 0.0
    for a, b in zip(points, points[1:]):
        mean, var = effects.log_lift(view.features(a, b), view)
        lift = math.exp(mean)
        total += (b - a) * lift
        spread += (b - a) * lift * math.sqrt(var)
    width = end_ms - start_ms
    return total / width, (spread / width) ** 2


class LiftPool:
    """Per effect, the data-weighted mean log-lift of a partition's SKUs: the prior of a SKU new to it."""

    def __init__(self):
        self.weight: dict[str, float] = {}
        self.total: dict[str, float] = {}

    def add(self, effects: CalendarEffects) -> None:
        for effect, mean in effects.mean.items():
            w = effects.data_weight(effect)
            if w > 0:
                self.weight[effect] = self.weight.get(effect, 0.0) + w
                self.total[effect] = self.total.get(effect, 0.0) + w * mean

    def means(self, previous: Mapping[str, float]) -> dict[str, float]:
        """The pool's estimates, keeping earlier ones for effects no SKU on the partition learned this tick."""
        pooled = dict(previous)
        pooled.update({k: self.total[k] / self.weight[k] for k in sorted(self.weight)})
        return pooled
