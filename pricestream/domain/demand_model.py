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

import numpy as np
from dataclasses import dataclass, field

from pricestream.domain.calendar import CalendarEffects, CalendarView, window_lift
from pricestream.domain.competitor_response import CompetitorResponse, KinkedResponse, smoothed_log_price
from pricestream.domain.elasticity import DEFAULT_PRIOR_CONVERSION, DEFAULT_PRIOR_SD, ElasticityEstimator
from pricestream.domain.forecasting import ForecasterSelector

DAY_MS = 86_400_000
MAX_WEEKLY_SEASON = 7 * 24          # hourly periods: a weekly profile of 168 values, no finer
MAX_DAILY_SEASON = 96               # 15-minute periods: a daily profile of 96 values, no finer
POINT_PRIOR_UNITS = 3.0             # a price point's prior is worth this many units sold
WARM_UP_UNITS = 3                   # units sold before the model's own plan is trusted with stock
# the daily rate stock is planned on is averaged over about this long (an exponential average): see
# ``planned_daily_units``
PLANNING_SMOOTHING_MS = 2 * DAY_MS


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
    units_seen: int = 0                              # sold in the closed periods: the conversion's own evidence
    # SKUs with allowed price points only: per point (whole cents), the views and units seen at it. A
    # handful of prices can be learned one by one, without trusting the log-log form between them.
    point_counts: dict[str, list[int]] = field(default_factory=dict)
    competitor_response: CompetitorResponse = field(default_factory=CompetitorResponse.new)
    # the cheapest competitor as min(own level, ratio x our price): what anticipation prices for
    competitor_kink: KinkedResponse = field(default_factory=KinkedResponse)
    # per calendar effect (holiday, campaign, signal), the learned lift of page views
    calendar_effects: CalendarEffects = field(default_factory=CalendarEffects)
    # the calendar as of the latest tick, set at each ``close_period``: what the forecasts look ahead at.
    # Not state: every decision is made right after the close that sets it.
    outlook: CalendarView | None = field(default=None, repr=False, compare=False)
    # the next day's units at the planning price, mean and variance, averaged over the last ~2 days of
    # ticks (from warm-up on): what restocking plans the lead time's demand on. None until warmed up.
    planned_daily_units: tuple[float, float] | None = None
    # our own price as charged (log, over the reference price), or lower where stock pacing raised it
    # (``PriceProposal.planning_price``), smoothed over about ten periods: what stock is planned for. For
    # a segmented SKU that is the blend of its segments' prices, not the watched segment's that the
    # competitor models learn against (``competitor_response``).
    smoothed_log_price: float | None = None

    @property
    def reach_elasticity_sd(self) -> float:
        """The elasticity's spread that sets how far from the list price the learned policy prices
        (``learned_pricing.within_reach``)."""
        return self.elasticity.elasticity_sd

    # a following competitor answers this SKU's price (a segment it does not watch says otherwise)
    price_answered = True

    def best_known_price(self, competitor_price: float | None) -> float:
        """Where the conversion is known best: the learned policy's reach upward is measured from it
        (``learned_pricing.within_reach``)."""
        return self.elasticity.best_known_price(competitor_price)

    @classmethod
    def new(cls, reference_price: float, prior_elasticity: float = -2.0,
            prior_elasticity_sd: float = DEFAULT_PRIOR_SD[1],
            prior_conversion: float = DEFAULT_PRIOR_CONVERSION) -> "DemandModel":
        """A model that knows only its priors: of the elasticity, and of the conversion at ``reference_price``."""
        sd = (DEFAULT_PRIOR_SD[0], prior_elasticity_sd, DEFAULT_PRIOR_SD[2])
        return cls(elasticity=ElasticityEstimator.new(reference_price, prior_elasticity=prior_elasticity,
                                                      prior_conversion=prior_conversion, prior_sd=sd))

    def close_period(self, closed: PeriodCounts, price: float | None, competitor_price: float | None,
                     period_ms: int | None, price_points: bool = False, calendar: CalendarView | None = None,
                     watched_price: float | None = None, planning_price: float | None = None) -> None:
        """Learn from the period just closed (``closed``: its counts; ``price``: what we charged;
        ``price_points``: the SKU may only take listed prices, so they are also learned one by one;
        ``calendar``: the SKU's calendar as of this tick, None when no entry concerns it;
        ``watched_price``: the price competitors saw, when it is not ``price`` (a segmented SKU's watched
        segment), which the competitor models learn against; ``planning_price``: what stock was planned
        for meanwhile, when it is not ``price``: ``PriceProposal.planning_price``)."""
        self.outlook = calendar
        if period_ms is None or period_ms <= 0:
            return                        # the opening tick: no period behind it
        if self.views is None:
            self.period_ms = period_ms
            self.views = views_forecaster(period_ms)
        lift = self._learn_lift(closed.views, period_ms, calendar)
        if calendar is not None and calendar.pulse(calendar.now_ms - period_ms, calendar.now_ms) and \
                self.periods_closed * period_ms >= DAY_MS:
            self.views.hold_one()       # a holiday or campaign: its lift learns, the baseline holds
        else:
            self.views.learn_one(float(closed.views) / lift)
        if price is not None:
            planned = price if planning_price is None else planning_price
            self.smoothed_log_price = smoothed_log_price(self.smoothed_log_price,
                                                         math.log(planned / self.elasticity.reference_price))
            seen = price if watched_price is None else watched_price
            self.competitor_response.learn(seen, competitor_price, self.elasticity.reference_price)
            self.competitor_kink.learn(seen, competitor_price)
        # a period that ran out of stock shows sales cut short, not what the price would sell
        if price is not None and not closed.stocked_out:
            self.elasticity.learn(closed.views, closed.units, price, competitor_price)
            if price_points:
                counts = self.point_counts.setdefault(price_key(price), [0, 0])
                counts[0] += closed.views
                counts[1] += closed.units
        self.periods_closed += 1
        self.units_seen += closed.units
        if price is not None and self.warmed_up:
            self._smooth_planned_rate(self.planning_price(price), competitor_price, period_ms)

    @property
    def warmed_up(self) -> bool:
        """A full day of the SKU's own periods closed and a few of its units sold: before, the forecast
        leans on priors that can be many times off for a slow mover."""
        return self.period_ms is not None and self.periods_closed * self.period_ms >= DAY_MS and \
            self.units_seen >= WARM_UP_UNITS

    def _smooth_planned_rate(self, price: float, competitor_price: float | None, period_ms: int) -> None:
        """Average the next day's units (mean and variance) into ``planned_daily_units``. The hourly
        forecast follows each period's news (a busy hour, a competitor's promotion, a shift of the
        conversion's estimate), and a reorder point that jitters with it is crossed on its upward
        jitters: orders went out early and large, on forecasts above the truth (the simulator's
        ``restock_forecast_ratio``). Stock for a lead time of days is planned on the average of the last
        days' forecasts instead."""
        day = max(1, round(DAY_MS / self.period_ms))
        mean, var = self.expected_units(price, competitor_price, day, with_calendar=False)
        per_day = DAY_MS / (day * self.period_ms)
        daily = (mean * per_day, var * per_day)
        weight = -math.expm1(-period_ms / PLANNING_SMOOTHING_MS)
        previous = self.planned_daily_units
        self.planned_daily_units = daily if previous is None else tuple(
            p + weight * (d - p) for p, d in zip(previous, daily))

    def planning_price(self, price: float) -> float:
        """The price stock is planned for: the typical one once prices have history (``price`` before)."""
        return self.typical_price() if self.smoothed_log_price is not None else price

    def _learn_lift(self, views: int, period_ms: int, calendar: CalendarView | None) -> float:
        """The calendar's lift of the period just closed, after learning from it: the baseline learns
        the views divided by it. Effects learn once the baseline has a day behind it (before, its
        forecast is a prior's guess); until then the lift is the effects' priors."""
        if calendar is None:
            return 1.0
        x = calendar.features(calendar.now_ms - period_ms, calendar.now_ms)
        if not x:
            return 1.0
        if self.periods_closed * period_ms < DAY_MS:
            return math.exp(self.calendar_effects.log_lift(x, calendar)[0])
        baseline = max(self.views.forecast(1)[0], 0.0)      # of this period, not yet learned
        return self.calendar_effects.learn(x, float(views), baseline, calendar)

    # -- what policies ask -----------------------------------------------------------------------
    def expected_views(self, horizon: int = 1, with_calendar: bool = True) -> tuple[float, float]:
        """Mean and variance of the page views over the next ``horizon`` periods: the baseline times
        the calendar's lift of each (``with_calendar=False``: the baseline alone)."""
        if self.views is None:
            return 0.0, 0.0
        view = self.outlook if with_calendar else None
        if view is None or not view.touches(view.now_ms, view.now_ms + horizon * self.period_ms):
            mean, var = self.views.total(horizon)
            return max(mean, 0.0), max(var, 0.0)
        return self._lifted_views(horizon, view)

    def _lifted_views(self, horizon: int, view: CalendarView) -> tuple[float, float]:
        """Sum over the horizon of baseline x lift; variance: the baseline's, scaled, plus the lifts'
        own uncertainty, shared by the periods of one effect (so added up before squaring)."""
        means, stds = self.views.forecast(horizon), self.views.forecast_std(horizon)
        total = noise = shared = 0.0
        for (m, s), (log_mean, log_var) in zip(zip(means, stds), self._period_log_lifts(horizon, view)):
            lift, m = math.exp(log_mean), max(m, 0.0)
            total += m * lift
            noise += (s * lift) ** 2
            shared += m * lift * math.sqrt(log_var)
        return total, noise + shared * shared

    def _period_log_lifts(self, horizon: int, view: CalendarView):
        """(mean, variance) of the log-lift of each of the next ``horizon`` periods. The features are
        constant between entry boundaries, so each stretch between two is computed once."""
        start, period = view.now_ms, self.period_ms
        points = view.breakpoints(start, start + horizon * period)
        stretches = [(a, b, self.calendar_effects.log_lift(view.features(a, b), view))
                     for a, b in zip(points, points[1:])]
        j = 0
        for k in range(horizon):
            a, b = start + k * period, start + (k + 1) * period
            while stretches[j][1] <= a:
                j += 1
            if stretches[j][1] >= b:            # the period lies within one stretch
                yield stretches[j][2]
            else:                               # a boundary falls inside it: its own features
                yield self.calendar_effects.log_lift(view.features(a, b), view)

    def next_period_lift(self) -> float:
        """The calendar's multiplier of the next period's views (1 when nothing applies)."""
        view = self.outlook
        if view is None or self.period_ms is None:
            return 1.0
        x = view.features(view.now_ms, view.now_ms + self.period_ms)
        return math.exp(self.calendar_effects.log_lift(x, view)[0]) if x else 1.0

    def window_lift(self, from_days: float, to_days: float) -> tuple[float, float]:
        """The calendar's mean traffic multiplier from ``from_days`` to ``to_days`` after the latest tick,
        and its variance: what the restock policy scales the lead time's demand by."""
        view = self.outlook
        if view is None:
            return 1.0, 0.0
        return window_lift(self.calendar_effects, view, view.now_ms + int(from_days * DAY_MS),
                           view.now_ms + int(to_days * DAY_MS))

    def expected_units(self, price: float, competitor_price: float | None, horizon: int = 1,
                       with_calendar: bool = True) -> tuple[float, float]:
        """Mean and variance of units sold over the next ``horizon`` periods at ``price``.

        Variance: traffic uncertainty scaled by conversion, plus the Poisson noise of buying.
        """
        views_mean, views_var = self.expected_views(horizon, with_calendar)
        q = self.elasticity.conversion(price, competitor_price)
        mean = views_mean * q
        return mean, q * q * views_var + mean

    def typical_price(self) -> float:
        """Our price smoothed over the last ten or so periods: what to plan stock for, rather than one
        period's exploratory price (a lower price drawn for an hour would otherwise inflate the
        lead-time demand, and the order placed on it)."""
        return self.elasticity.reference_price * math.exp(self.smoothed_log_price or 0.0)

    def others_gain(self, settled_competitor, views_per_period: float, drawn: bool) -> float:
        """Nothing: a SKU priced as one has no other segments (``segments.SegmentDemand.others_gain``)."""
        return 0.0

    def conversion_draw(self, prices: np.ndarray, competitor_price: float | None, rng: np.random.Generator | None,
                        ) -> np.ndarray:
        """Units per view at each of ``prices``: a posterior draw (Thompson sampling) when ``rng`` is
        given, else the posterior mean.

        Parametric (log-log in price) in general. For listed price points, each point's own Beta
        posterior, whose prior is the parametric prediction worth ``POINT_PRIOR_UNITS`` units of
        evidence: the form guides a point with little data and data overrule it where they exist.
        """
        theta = None if rng is None else self.elasticity.draw(rng)
        parametric = self.elasticity.conversions(prices, competitor_price, theta)
        if not self.point_counts:
            return parametric
        prior = np.clip(self.elasticity.conversions(prices, competitor_price), 1e-4, 0.999)
        counts = np.array([self.point_counts.get(price_key(p), (0, 0)) for p in prices], dtype=float)
        views, units = counts[:, 0], np.minimum(counts[:, 1], counts[:, 0])
        alpha = units + POINT_PRIOR_UNITS
        beta = views - units + POINT_PRIOR_UNITS * (1 - prior) / prior
        if rng is None:
            return alpha / (alpha + beta)
        return rng.beta(alpha, beta)

    def forecast_model(self) -> str:
        return "none-yet" if self.views is None else self.views.chosen

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"elasticity": self.elasticity.to_state(),
                "views": None if self.views is None else self.views.to_state(),
                "period_ms": self.period_ms, "periods_closed": self.periods_closed, "units_seen": self.units_seen,
                "point_counts": {k: list(v) for k, v in self.point_counts.items()},
                "competitor_response": self.competitor_response.to_state(),
                "competitor_kink": self.competitor_kink.to_state(),
                # only once an effect was met: a shop without a calendar keeps its state as small as before
                **({"calendar_effects": self.calendar_effects.to_state()} if self.calendar_effects.mean else {}),
                "planned_daily_units": self.planned_daily_units, "smoothed_log_price": self.smoothed_log_price}

    @classmethod
    def from_state(cls, d: dict) -> "DemandModel":
        return cls(elasticity=ElasticityEstimator.from_state(d["elasticity"]),
                   views=None if d["views"] is None else ForecasterSelector.from_state(d["views"]),
                   period_ms=d["period_ms"], periods_closed=d["periods_closed"], units_seen=d.get("units_seen", 0),
                   point_counts={k: list(v) for k, v in d.get("point_counts", {}).items()},
                   competitor_response=CompetitorResponse.from_state(d["competitor_response"])
                   if "competitor_response" in d else CompetitorResponse.new(),
                   competitor_kink=KinkedResponse.from_state(d["competitor_kink"])
                   if "competitor_kink" in d else KinkedResponse(),
                   calendar_effects=CalendarEffects.from_state(d.get("calendar_effects")),
                   planned_daily_units=None if d.get("planned_daily_units") is None
                   else tuple(d["planned_daily_units"]),
                   smoothed_log_price=d["smoothed_log_price"] if "smoothed_log_price" in d
                   else _smoothed_log_price_before_it_was_kept(d))


def _smoothed_log_price_before_it_was_kept(d: dict) -> float | None:
    """State written before the model kept its own smoothed price: the competitor model's, which is the
    same for a SKU with one price (a segmented SKU's watched price, until the next periods blend in)."""
    response = d.get("competitor_response")
    return response["smoothed_log_price"] if response and response.get("periods") else None


def views_forecaster(period_ms: int) -> ForecasterSelector:
    """A forecaster whose seasons fit the period: a daily one, and a weekly one when it stays small."""
    per_day = DAY_MS / period_ms
    if per_day < 2 or per_day > MAX_DAILY_SEASON or abs(per_day - round(per_day)) > 1e-9:
        # periods of a day or more, shorter than 15 minutes, or not dividing a day: no daily profile
        return ForecasterSelector(season=1)
    season = int(round(per_day))
    weekly = 7 * season if 7 * season <= MAX_WEEKLY_SEASON else None
    return ForecasterSelector(season=season, weekly=weekly)


def price_key(price: float) -> str:
    """A price as a key: whole cents (prices are always rounded to cents or are listed points)."""
    return str(round(price * 100))


def units_std(variance: float) -> float:
    return math.sqrt(max(variance, 0.0))
