"""The competitors of one SKU: their true prices and stock, period by period, and what the shop sees.

Each competitor has a *normal* price that follows its process (``fixed``, or a log random walk
repriced once a day at a time of day of its own), promotions that cut it for a while, out-of-stock
spells, price-war shocks that scale it, and (``reactive``) undercutting of our price. The shown price
is kept within the competitor's [floor, ceiling] and rounded to cents.

The random numbers drawn per period do not depend on our price (a fixed number of draws per
competitor per period), so two policies run on the same seed face the same competitor moves except
where a reactive competitor answers their own prices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pricestream.simulator.scenario import DAY_MS, CompetitorSpec, SkuSpec

_MIN_PRICE = 0.01        # a shown price is at least one cent (prices are > 0 in the contracts)


@dataclass(frozen=True, slots=True)
class Observation:
    """One competitor price the shop sees in a period (becomes a competitor-prices event)."""
    name: str
    price: float
    in_stock: bool


@dataclass(slots=True)
class _State:
    spec: CompetitorSpec
    normal: float                       # the process's price before promotions, wars and reactions
    reprice_offset_ms: int              # time of day of the daily reprice
    promo_left: int = 0                 # periods of the running promotion still to go (0: none)
    out_left: int = 0                   # periods of the running out-of-stock spell still to go
    undercut_target: float | None = None   # reactive: our price x (1 - undercut) at its last reaction
    price: float = 0.0                  # shown price this period
    own_price: float = 0.0              # what it would show this period without answering ours (cents)
    in_stock: bool = True


class CompetitorMarket:
    """The competitors of one SKU. Call ``step(t, our_price)`` once per period, t = 0, 1, 2, ..."""

    def __init__(self, sku: SkuSpec, rng: np.random.Generator, period_ms: int, start_time_ms: int):
        if period_ms <= 0:
            raise ValueError(f"period_ms must be positive, not {period_ms}")
        self.sku = sku
        self._rng = rng
        self._period_ms = period_ms
        self._start_ms = start_time_ms
        self._period_days = period_ms / DAY_MS
        self._wars = [s for s in sku.shocks if s.kind == "price-war"]
        self._t = -1
        self._states = []
        for spec in sku.competitors:
            offset = int(rng.integers(0, DAY_MS // 60_000)) * 60_000     # a whole minute of the day
            state = _State(spec=spec, normal=_clamp(spec.initial_price, spec), reprice_offset_ms=offset)
            state.price = self._shown_price(state, 0)
            self._states.append(state)

    @property
    def t(self) -> int:
        """The last period stepped to (-1 before the first step)."""
        return self._t

    def step(self, t: int, our_price: float | None) -> list[Observation]:
        """Advance to period ``t`` (the next one) and return the observations the shop gets in it.

        A competitor is observed when ``t`` is a multiple of its ``observe_every_periods`` and
        whenever its shown price or stock status changed since the previous period (always at t = 0).
        ``our_price`` is the shop's current price (what a reactive competitor sees); None when unknown.
        """
        if t != self._t + 1:
            raise ValueError(f"step to period {t}, but the market is at period {self._t}")
        self._t = t
        period_start = self._start_ms + t * self._period_ms
        observations = []
        for state in self._states:
            spec = state.spec
            # a fixed number of draws per competitor and period, whatever the state
            z, u_promo, u_out, u_react = self._rng.standard_normal(), *self._rng.random(3)
            before = (state.price, state.in_stock)
            if t > 0:
                self._advance(state, period_start, z, u_promo, u_out, u_react, our_price)
            state.price = self._shown_price(state, period_start)
            changed = (state.price, state.in_stock) != before
            if t == 0 or changed or t % spec.observe_every_periods == 0:
                observations.append(Observation(spec.name, state.price, state.in_stock))
        return observations

    def cheapest_in_stock(self) -> float | None:
        """The lowest shown price among competitors in stock this period (None: none in stock)."""
        prices = [s.price for s in self._states if s.in_stock]
        return min(prices) if prices else None

    def current(self) -> list[Observation]:
        """Every competitor's true shown price and stock status this period."""
        return [Observation(s.spec.name, s.price, s.in_stock) for s in self._states]

    # -- the processes ------------------------------------------------------------------------------

    def _advance(self, state: _State, period_start: int, z: float, u_promo: float, u_out: float,
                 u_react: float, our_price: float | None) -> None:
        spec = state.spec
        steps = self._reprice_steps(state, period_start)
        if spec.process != "fixed" and spec.volatility > 0 and steps > 0:
            state.normal = _clamp(state.normal * math.exp(spec.volatility * math.sqrt(steps) * z), spec)

        if state.promo_left > 0:
            state.promo_left -= 1
        elif spec.promo_probability_per_day > 0 and u_promo < self._chance(spec.promo_probability_per_day):
            state.promo_left = self._spell(spec.promo_days)

        if state.out_left > 0:
            state.out_left -= 1
        elif spec.out_of_stock_probability_per_day > 0 and u_out < self._chance(spec.out_of_stock_probability_per_day):
            state.out_left = self._spell(spec.out_of_stock_days)
        state.in_stock = state.out_left == 0

        if spec.process == "reactive" and our_price is not None and u_react < spec.react_probability:
            state.undercut_target = our_price * (1.0 - spec.react_undercut)

    def _reprice_steps(self, state: _State, period_start: int) -> float:
        """Days of random walk in this period: 1 when the period holds the competitor's daily
        reprice time (sub-day periods), else 0; the period's length in days for longer periods."""
        if self._period_ms >= DAY_MS:
            return self._period_days
        first = period_start - state.reprice_offset_ms            # the reprice times are offset + k days
        k = -(-first // DAY_MS)                                  # the first one at or after the start
        return 1.0 if k * DAY_MS < first + self._period_ms else 0.0

    def answers(self) -> tuple[tuple[float, float | None, float], ...]:
        """How the competitors in stock this period would price against a price of ours held long enough
        for the reactive ones to answer it: per competitor (its own price, before any reaction; the share
        it undercuts ours by, None when it does not react; its floor). Hashable, for caching; read it with
        ``cheapest_if_held``. Their own prices do not depend on ours (see the module's docstring)."""
        return tuple((s.own_price, s.spec.react_undercut if s.spec.process == "reactive" else None, s.spec.floor)
                     for s in self._states if s.in_stock)

    def _shown_price(self, state: _State, period_start: int) -> float:
        """The price shown this period; its own price, before any answer to ours, is kept in the state."""
        spec = state.spec
        price = state.normal
        if state.promo_left > 0:
            price *= 1.0 - spec.promo_depth
        price *= self._war_factor(spec.name, period_start)
        state.own_price = _to_cents(price, spec)
        if spec.process == "reactive" and state.undercut_target is not None:
            price = min(price, state.undercut_target)
        return _to_cents(price, spec)

    def _war_factor(self, name: str, period_start: int) -> float:
        factor = 1.0
        day = (period_start - self._start_ms) / DAY_MS
        for war in self._wars:
            if war.start_day <= day < war.end_day and war.competitor in (None, name):
                factor *= war.price_factor
        return factor

    def _chance(self, per_day: float) -> float:
        """Chance per period of an event with the given chance per day."""
        return 1.0 - (1.0 - per_day) ** self._period_days

    def _spell(self, days: float) -> int:
        """Periods a promotion or out-of-stock spell lasts, including this one (at least 1)."""
        return max(1, round(days / self._period_days))


def cheapest_if_held(answers: tuple[tuple[float, float | None, float], ...], our_price):
    """The cheapest competitor price in stock once every reactive competitor has answered ``our_price``
    (a price, or an array of them), held: min(its own price, ours x (1 - undercut)), not below its floor,
    in cents (as it would show it). ``answers`` is ``CompetitorMarket.answers()``; None when no competitor
    is in stock.

    >>> cheapest_if_held(((20.0, None, 10.0), (21.0, 0.05, 15.0)), 20.0)      # 19.00 undercuts 20.00
    19.0
    >>> cheapest_if_held(((20.0, None, 10.0), (21.0, 0.05, 15.0)), 12.0)      # the follower stops at 15
    15.0
    >>> cheapest_if_held(((20.0, None, 10.0), (21.0, 0.05, 15.0)), 30.0)      # above: its own price
    20.0
    >>> cheapest_if_held(((20.0, None, 10.0), (21.0, 0.05, 15.0)), np.array([12.0, 20.0, 30.0])).tolist()
    [15.0, 19.0, 20.0]
    """
    if not answers:
        return None
    cheapest = math.inf
    for own, undercut, floor in answers:
        if undercut is not None:
            # rounded to cents as it shows it (half to even, as round does), never below its floor (nor a cent)
            answer = np.maximum(np.rint(np.multiply(our_price, 1.0 - undercut) * 100) / 100,
                                math.ceil(max(floor, _MIN_PRICE) * 100 - 1e-9) / 100)
            own = np.minimum(own, answer)
        cheapest = np.minimum(cheapest, own)
    return float(cheapest) if np.ndim(cheapest) == 0 else cheapest


def _clamp(price: float, spec: CompetitorSpec) -> float:
    return min(max(price, spec.floor, _MIN_PRICE), spec.ceiling)


def _to_cents(price: float, spec: CompetitorSpec) -> float:
    """Rounded to cents, within [floor, ceiling] (the nearest whole cent inside them)."""
    low = max(spec.floor, _MIN_PRICE)
    cents = round(min(max(price, low), spec.ceiling) * 100)
    if cents / 100 < low - 1e-9:
        cents = math.ceil(low * 100 - 1e-9)
    if cents / 100 > spec.ceiling + 1e-9:
        cents = math.floor(spec.ceiling * 100 + 1e-9)
    return cents / 100
