"""Segment pricing: one SKU sold through several channels, regions or member tiers at their own prices.

A segmented SKU (its catalogue entry names ``segments``) keeps ``SegmentedDemand``: each segment's
share of the SKU's page views, and one conversion model for all its segments, learned jointly:

    log(units per view in segment s) = a_s + (e + d_s) log(p_s / p_ref) + g log(c / p_ref)

a conversion level per segment, a price elasticity ``e`` shared by the segments plus a deviation
``d_s`` per segment whose prior is centred on 0, and the cross-elasticity ``g``. The deviation's prior
is as wide as the SKU's distance from unit elasticity says (``deviation_prior_sd``): a segment's best
margin over cost, ``1 / (-1 - e_s)``, may differ from the SKU's by about a factor of two, so the
segments of an elastic SKU (web -4) may lie far apart in ``e`` (a marketplace at -7) and those of a SKU
near -1 (web -1.2) close together, where a small difference in ``e`` is a large one in price. Every segment's
sales teach the shared ``e``; a segment's own ``d_s`` moves only as far as its own data say. So a
segment with little data prices nearly as the SKU would with one price, and one with enough data at
its own price finds its own optimum: the pooling toward the SKU's overall estimate, in one posterior
(a Gaussian, updated once per period by one Newton step of the Poisson likelihood, like
``ElasticityEstimator``). Thompson sampling draws from it once per tick for all the segments.

The SKU's own demand model still forecasts the total page views (one seasonal traffic pattern, split
by share) and learns the SKU's pooled conversion at its blended price (what restocking plans on: stock
is shared). Changing a SKU's segment list starts the segments' learning afresh from that pooled one.

Prices are set per segment, never per person. The policy proposes a price for each segment; the
segments' prices are then fitted into the catalogue's spread (the highest at most
``max_segment_spread_pct`` above the lowest: ``best_band`` under the learned policy, where the draw
says they earn most together; ``fit_spread``, centred, for the baselines), and each is guarded by the
SKU's guardrails. The spread
is a hard rule, like the hard bounds. Step limits cannot break it (each segment stops between its old
price and its fitted one, both inside the spread); rounding to whole cents can, by a cent at the
band's edge, and those prices are rounded into it instead (``rounded_into_spread``). If price
points leave a spread too wide, the segments keep their prices (which kept it), or, when they have
none that do, all take the default segment's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from pricestream.domain.elasticity import (
    FORGETTING, ElasticityEstimator, capped_newton_step, fade_toward_prior, gaussian_draw, least_uncertain_log_price,
    log_linear_conversions,
)
from pricestream.domain.guardrails import PRICE_TOLERANCE, GuardedPrice

SHARE_MEMORY_PERIODS = 168          # a segment's share of views is a moving mean over about a week of hours
LEVEL_PRIOR_SD = 1.0                # a segment's conversion level, around the SKU's
ELASTICITY_PRIOR_SD = 1.0           # the shared elasticity, around the SKU's pooled estimate
# a segment's own deviation from it: one sd of log(-1 - e_s) around log(-1 - e) (see deviation_prior_sd).
# Under a fixed sd of 1.0 in e, eight weeks left an elastic SKU's marketplace (-7) 2-3 sd from the truth,
# held near its web (-4), and a marketplace near -1 (-1.4) up to 0.97 off with an sd near 0.8
# (test_segments: test_an_elastic_skus_marketplace_...)
DEVIATION_LOG_MARGIN_SD = math.log(2.0)
MIN_DISTANCE_FROM_UNIT = 0.2        # a SKU at -1.2 or above: its segments' deviations are about 0.14 wide
CROSS_PRIOR_SD = 1.0
SPREAD = "clamped:segment-spread"
CENT = 0.01
SHADOW_PRICE_POINTS = 48            # shadow prices of a unit of stock tried when sharing it (stock_shares)
BAND_POINTS = 64                    # lower edges a segment band search tries: steps of well under 1 %


@dataclass
class SegmentedDemand:
    """The segments of one SKU: their shares of the views and their joint conversion posterior over
    ``(a_1..a_n, e, d_1..d_n, g)``."""
    names: list[str]
    shares: list[float]
    reference_price: float
    mean: list[float]
    precision: list[list[float]]
    prior_mean: list[float]
    prior_precision_diag: list[float]

    @classmethod
    def new(cls, names: list[str], pooled: ElasticityEstimator) -> "SegmentedDemand":
        """Segments that know only the SKU's pooled estimate: equal shares, its level, its elasticity."""
        n = len(names)
        level, e, g = pooled.mean
        mean = [level] * n + [e] + [0.0] * n + [g]
        sds = [LEVEL_PRIOR_SD] * n + [ELASTICITY_PRIOR_SD] + [deviation_prior_sd(e)] * n + [CROSS_PRIOR_SD]
        diag = [1.0 / sd ** 2 for sd in sds]
        return cls(names=list(names), shares=[1.0 / n] * n, reference_price=pooled.reference_price,
                   mean=list(mean), precision=np.diag(diag).tolist(), prior_mean=list(mean),
                   prior_precision_diag=diag)

    # -- what pricing reads ------------------------------------------------------------------------
    def coefficients(self, i: int, theta: np.ndarray | None = None) -> tuple[float, float, float]:
        """Segment i's (level, elasticity, cross-elasticity), under ``theta`` or the posterior mean."""
        t = np.asarray(self.mean) if theta is None else theta
        n = len(self.names)
        return float(t[i]), float(t[n] + t[n + 1 + i]), float(t[2 * n + 1])

    def covariance(self) -> np.ndarray:
        return np.linalg.inv(np.asarray(self.precision))

    def elasticity_sd(self, i: int, cov: np.ndarray | None = None) -> float:
        """The spread of segment i's elasticity (``cov``: the covariance, when the caller has it)."""
        n = len(self.names)
        x = np.zeros(2 * n + 2)
        x[n] = x[n + 1 + i] = 1.0
        cov = self.covariance() if cov is None else cov
        return math.sqrt(max(float(x @ cov @ x), 0.0))

    def best_known_price(self, i: int, competitor_price: float | None, cov: np.ndarray | None = None) -> float:
        """Where segment i's conversion is known best (``ElasticityEstimator.best_known_price``): the
        centre of the prices its own data came from, the reference price before any."""
        n = len(self.names)
        level, slope, cross = np.zeros(2 * n + 2), np.zeros(2 * n + 2), np.zeros(2 * n + 2)
        level[i], slope[n], slope[n + 1 + i], cross[2 * n + 1] = 1.0, 1.0, 1.0, 1.0
        if competitor_price is not None:
            level = level + math.log(competitor_price / self.reference_price) * cross
        cov = self.covariance() if cov is None else cov
        return self.reference_price * math.exp(least_uncertain_log_price(cov, level, slope))

    def conversions(self, i: int, prices: np.ndarray, competitor_price, theta: np.ndarray | None = None,
                    ) -> np.ndarray:
        """Units per view in segment i at each of ``prices`` (at most 1); ``competitor_price`` is one price,
        one per candidate (where a follower would settle at each), or None."""
        return log_linear_conversions(*self.coefficients(i, theta), prices, competitor_price, self.reference_price)

    def profit_per_view(self, i: int, share: float, unit_cost: float, prices: np.ndarray, competitor_price,
                        theta: np.ndarray | None = None) -> np.ndarray:
        """Segment i's expected profit per view of the SKU (``share``: its share of the views) at each of
        ``prices``, under ``theta`` or the posterior mean."""
        return share * (prices - unit_cost) * self.conversions(i, prices, competitor_price, theta)

    def stock_shares(self, unit_cost: float, prices: np.ndarray, competitor_price,
                     theta: np.ndarray | None = None, stock_per_view: float | None = None) -> list[float]:
        """Each segment's share of the SKU's shared stock, for pacing: its share of the units the
        segments would sell together if each charged its most profitable of ``prices`` net of one
        shadow price of a unit of stock (under ``theta`` or the posterior mean; the competitor as
        given). The shadow price is 0 when their units a view fit in ``stock_per_view`` (stock a period
        until more arrives, over the views a period; None: nothing bounds it), else the least that
        makes them fit: the fluid LP's price of a unit, one for all the segments, since a unit one
        sells is a unit the others cannot. Split by the shares of the views instead, a price-sensitive
        segment priced low, which buys many units a view, was paced far above its best price while the
        others kept stock they did not need.

        >>> segments = SegmentedDemand.new(["web", "marketplace"], ElasticityEstimator.new(20.0))
        >>> segments.mean = [math.log(0.04), math.log(0.04), -2.0, 0.0, -1.0, 0.0]   # marketplace: e = -3
        >>> grid = np.geomspace(11.0, 40.0, 64)       # cost 10: web best at 20, marketplace at 15
        >>> [round(x, 2) for x in segments.stock_shares(10.0, grid, None)]            # 0.02 and 0.047 a view
        [0.3, 0.7]
        >>> [round(x, 2) for x in segments.stock_shares(10.0, grid, None, stock_per_view=0.03)]  # both priced up
        [0.37, 0.63]
        """
        margins = np.asarray(prices, dtype=float) - unit_cost
        q = np.array([self.conversions(i, prices, competitor_price, theta) for i in range(len(self.names))])
        shadow = np.linspace(0.0, max(float(margins.max()), 0.0), SHADOW_PRICE_POINTS)
        # each segment's best price at each shadow price, and its units a view of the SKU there
        best = np.argmax((margins[None, None, :] - shadow[:, None, None]) * q[None, :, :], axis=2)
        units = np.asarray(self.shares)[None, :] * np.take_along_axis(q[None, :, :], best[:, :, None], axis=2)[:, :, 0]
        row = 0
        if stock_per_view is not None:
            fits = np.flatnonzero(units.sum(axis=1) <= stock_per_view + 1e-12)
            row = int(fits[0]) if fits.size else len(shadow) - 1
        total = float(units[row].sum())
        return (units[row] / total).tolist() if total > 0 else list(self.shares)

    def draw(self, rng: np.random.Generator, cov: np.ndarray | None = None) -> np.ndarray:
        """One draw of every coefficient from the posterior: a Thompson sample."""
        return gaussian_draw(self.mean, self.covariance() if cov is None else cov, rng)

    # -- learning ----------------------------------------------------------------------------------
    def learn(self, counts: dict[str, tuple[int, int]], prices: dict[str, float], total_views: int,
              competitor_price: float | None, stocked_out: bool) -> None:
        """One closed period: each segment's (views, units) at its price. A period that ran out of stock
        teaches the shares only (its sales were cut short, not chosen). The deviations' prior then
        follows the shared elasticity as learned (``with_deviation_prior``)."""
        if total_views > 0:
            for i, name in enumerate(self.names):
                self.shares[i] += (counts[name][0] / total_views - self.shares[i]) / SHARE_MEMORY_PERIODS
        P, theta = fade_toward_prior(self.precision, self.mean, self.prior_precision_diag, self.prior_mean,
                                     FORGETTING)
        if not stocked_out:
            n = len(self.names)
            c = 0.0 if competitor_price is None else math.log(competitor_price / self.reference_price)
            gradient = np.zeros_like(theta)
            for i, name in enumerate(self.names):
                views, units = counts[name]
                price = prices.get(name)
                if views <= 0 or price is None:
                    continue
                x = np.zeros(2 * n + 2)
                lp = math.log(price / self.reference_price)
                x[i], x[n], x[n + 1 + i], x[2 * n + 1] = 1.0, lp, lp, c
                rate = views * math.exp(min(float(theta @ x), 20.0))
                P = P + rate * np.outer(x, x)
                gradient += (units - rate) * x
            theta = capped_newton_step(theta, P, gradient)
        P, theta = self.with_deviation_prior(P, theta, deviation_prior_sd(float(theta[len(self.names)])))
        self.precision = P.tolist()
        self.mean = theta.tolist()

    def with_deviation_prior(self, P: np.ndarray, theta: np.ndarray, sd: float) -> tuple[np.ndarray, np.ndarray]:
        """The posterior (precision, mean) with the deviations' prior sd set to ``sd``, which it keeps. The
        posterior's precision holds the prior's (forgetting fades toward it, ``fade_toward_prior``), so
        the prior is swapped there and the mean solved again: exact for a Gaussian, the data untouched.

        >>> segments = SegmentedDemand.new(["web", "app"], ElasticityEstimator.new(20.0, prior_elasticity=-2.0))
        >>> P, theta = np.asarray(segments.precision), np.asarray(segments.mean)
        >>> P, theta = segments.with_deviation_prior(P, theta, 2.0)
        >>> round(float(np.linalg.inv(P)[3, 3]), 6), segments.prior_precision_diag[3]
        (4.0, 0.25)
        """
        n = len(self.names)
        change = np.zeros(2 * n + 2)
        change[n + 1:2 * n + 1] = 1.0 / sd ** 2 - np.asarray(self.prior_precision_diag[n + 1:2 * n + 1])
        if not change.any():
            return P, theta
        self.prior_precision_diag[n + 1:2 * n + 1] = [1.0 / sd ** 2] * n
        information = P @ theta + change * np.asarray(self.prior_mean)
        P = P + np.diag(change)
        return P, np.linalg.solve(P, information)

    # -- state ---------------------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"names": self.names, "shares": self.shares, "reference_price": self.reference_price,
                "mean": self.mean, "precision": self.precision, "prior_mean": self.prior_mean,
                "prior_precision_diag": self.prior_precision_diag}

    @classmethod
    def from_state(cls, d: dict) -> "SegmentedDemand":
        return cls(**d)


def deviation_prior_sd(elasticity: float) -> float:
    """The prior sd of a segment's deviation from the SKU's elasticity ``elasticity``: ln 2 x (-1 - e), no
    less than ln 2 x ``MIN_DISTANCE_FROM_UNIT``. A segment's best price is c x e_s / (1 + e_s), its margin
    over cost 1 / (-1 - e_s): one sd of log(-1 - e_s) is a factor of two in that margin, and
    d(-1 - e_s) = (-1 - e) d log(-1 - e_s) near the SKU's.

    >>> round(deviation_prior_sd(-4.0), 3), round(deviation_prior_sd(-2.0), 3), round(deviation_prior_sd(-1.1), 3)
    (2.079, 0.693, 0.139)
    """
    return DEVIATION_LOG_MARGIN_SD * max(-1.0 - elasticity, MIN_DISTANCE_FROM_UNIT)


@dataclass
class SegmentElasticity:
    """Segment i's elasticity as the pricing policy's audit trail reads it (``ElasticityEstimator``'s names)."""
    elasticity: float
    elasticity_sd: float
    mean: list[float]


class SegmentDemand:
    """The SKU's demand model as one segment sees it: its share of the traffic, its own conversion.
    It answers what the learned pricing policy asks of a ``DemandModel``.

    ``theta``: the tick's one posterior draw for all the segments. Thompson sampling draws one model per
    decision and acts on it: the segments' prices are one decision, so they share the draw, and their
    relative prices follow the drawn deviations rather than three independent guesses at the shared
    elasticity."""

    def __init__(self, sku_demand, segments: SegmentedDemand, name: str, theta: np.ndarray | None = None,
                 cov: np.ndarray | None = None, competitor_kink=None, spillover: "AnswerSpillover | None" = None):
        self._sku = sku_demand
        self._segments = segments
        self._theta = theta
        self._spillover = spillover
        self._i = segments.names.index(name)
        self._cov = segments.covariance() if cov is None else cov
        a, e, g = segments.coefficients(self._i)
        self.elasticity = SegmentElasticity(e, segments.elasticity_sd(self._i, self._cov), [a, e, g])
        # how far from the list price demand is known: the SKU's, learned from every segment's sales (a
        # segment's own deviation narrows only with that segment's; the level does not). Where it is
        # known best is the segment's own (``best_known_price``)
        self.reach_elasticity_sd = sku_demand.reach_elasticity_sd
        self.views = sku_demand.views
        self.period_ms = sku_demand.period_ms
        self.competitor_response = sku_demand.competitor_response
        # how a following competitor answers this segment's prices: the SKU's kink, or for a segment the
        # competitors do not watch, their answer to the watched one's price (``AnswerToWatchedPrice``)
        self.competitor_kink = sku_demand.competitor_kink if competitor_kink is None else competitor_kink
        # a follower that watches another segment does not answer this one's price
        self.price_answered = competitor_kink is None

    def best_known_price(self, competitor_price: float | None) -> float:
        """Where this segment's conversion is known best: its own sales' prices."""
        return self._segments.best_known_price(self._i, competitor_price, self._cov)

    @property
    def share(self) -> float:
        return self._segments.shares[self._i]

    def expected_views(self, horizon: int = 1, with_calendar: bool = True) -> tuple[float, float]:
        mean, var = self._sku.expected_views(horizon, with_calendar)
        s = self.share
        return mean * s, var * s * s

    def conversion_draw(self, prices: np.ndarray, competitor_price: float | None,
                        rng: np.random.Generator | None) -> np.ndarray:
        """At the tick's draw when ``rng`` is given (a draw of its own when there is no shared one), else
        at the posterior mean."""
        if rng is None:
            theta = None
        else:
            theta = self._theta if self._theta is not None else self._segments.draw(rng)
        return self._segments.conversions(self._i, prices, competitor_price, theta)

    def others_gain(self, settled_competitor, views_per_period: float, drawn: bool):
        """What the other segments would gain per period where the competitor settles at each of
        ``settled_competitor`` (this segment's candidates), at the tick's draw when ``drawn``: 0 unless
        this is the watched segment of a SKU whose follower answers its price (``AnswerSpillover``)."""
        if self._spillover is None or settled_competitor is None or np.ndim(settled_competitor) == 0:
            return 0.0
        sku_views = views_per_period / max(self.share, 1e-9)
        return sku_views * self._spillover.gain_per_view(settled_competitor, self._theta if drawn else None)


class AnswerSpillover:
    """A follower answers the watched segment's price, and every segment sells against its answer: a
    higher watched price that lifts the follower lifts the other segments' demand too (by their own
    cross-elasticity). The watched segment's choice counts that gain, as the oracle's search over the
    watched price does (``oracle.segment_oracle_answered``); otherwise it prices as if alone, and lower.

    Each other segment's best profit per view of the SKU at the competitor's price now, over the hard
    bounds, scales as ``(c / c_now)^g`` with the competitor's price c under the log-linear model (the
    competitor's factor does not move a segment's best price); the gain is that scaling less one. The
    spread's band, fitted after, is not counted.

    >>> pooled = ElasticityEstimator.new(10.0, prior_elasticity=-2.0, prior_conversion=0.03, prior_cross=1.0)
    >>> segments = SegmentedDemand.new(["web", "app"], pooled)
    >>> spill = AnswerSpillover(segments, "web", {"web": 0.5, "app": 0.5}, 5.0, 10.0, (6.0, 20.0))
    >>> # app's best is at 10: 0.5 of the views x 0.03 x margin 5 = 0.075 a view; a competitor 10 %
    >>> # higher lifts it by 10 % (cross-elasticity 1)
    >>> [round(float(x), 5) for x in spill.gain_per_view(np.array([10.0, 11.0]), None)]
    [0.0, 0.0075]
    """

    BEST_PRICE_POINTS = 64

    def __init__(self, segments: SegmentedDemand, watched: str, shares: Mapping[str, float], unit_cost: float,
                 competitor_price: float, bounds: tuple[float, float]):
        self._segments = segments
        self._others = [(i, shares[name]) for i, name in enumerate(segments.names) if name != watched]
        self._unit_cost = unit_cost
        self._competitor = competitor_price
        low, high = bounds
        self._grid = np.exp(np.linspace(math.log(low), math.log(max(high, low)), self.BEST_PRICE_POINTS))

    def gain_per_view(self, settled_competitor, theta: np.ndarray | None) -> np.ndarray:
        ratio = np.asarray(settled_competitor, dtype=float) / self._competitor
        gain = np.zeros_like(ratio)
        for i, share in self._others:
            best = float(np.max(self._segments.profit_per_view(i, share, self._unit_cost, self._grid,
                                                               self._competitor, theta)))
            gain += max(best, 0.0) * (ratio ** self._segments.coefficients(i, theta)[2] - 1.0)
        return gain


class AnswerToWatchedPrice:
    """A following competitor as a segment it does not watch sees it: it answers the watched segment's
    price, whatever this one charges, so every candidate price meets the same competitor price. Reads
    like ``competitor_response.KinkedResponse`` where the learned policy reads it.

    >>> from pricestream.domain.competitor_response import KinkedResponse
    >>> kink = KinkedResponse(clusters=[[math.log(0.96), 5.0, 0.0, 1.0]], regime="free")
    >>> [round(float(c), 2) for c in kink.settled_competitor_price(20.0, np.array([15.0, 25.0]))]
    [14.4, 20.0]
    >>> answer = AnswerToWatchedPrice(kink, 15.0)     # the watched segment charges 15
    >>> [round(float(c), 2) for c in answer.settled_competitor_price(20.0, np.array([15.0, 25.0]))]
    [14.4, 14.4]
    """

    def __init__(self, kink, watched_price: float):
        self._kink = kink
        self._watched_price = watched_price

    def settled_competitor_price(self, competitor_price: float | None, candidate_price):
        if competitor_price is None:
            return None
        settled = float(self._kink.settled_competitor_price(competitor_price, self._watched_price))
        return np.full(np.shape(candidate_price), settled) if np.ndim(candidate_price) else settled

    def ratio(self) -> float | None:
        return self._kink.ratio()

    def level(self, competitor_price: float) -> float:
        return self._kink.level(competitor_price)


def watched_segment(entry, prices: Mapping[str, float]) -> str | None:
    """The segment whose price the competitors see: the catalogue's ``competitors_watch_segment`` when it
    names one of ``prices``; else None (they see the lowest price, whichever segment has it).

    >>> from schemas.examples import catalog_entry
    >>> e = catalog_entry(segments=["web", "app"], competitors_watch_segment="web")
    >>> watched_segment(e, {"web": 10.0, "app": 12.0}), watched_segment(e, {"app": 12.0})
    ('web', None)
    """
    name = entry.competitors_watch_segment
    return name if name in prices else None


def watched_price(entry, prices: Mapping[str, float]) -> float | None:
    """The price of a segmented SKU the competitors see and answer: the watched segment's, or the lowest.

    >>> from schemas.examples import catalog_entry
    >>> watched_price(catalog_entry(segments=["web", "app"]), {"web": 10.0, "app": 8.0})
    8.0
    """
    if not prices:
        return None
    name = watched_segment(entry, prices)
    return prices[name] if name is not None else min(prices.values())


def blended_price(prices: dict[str, float], shares: dict[str, float]) -> float:
    """The views-weighted geometric mean of the segments' prices: the SKU's one price for what plans
    the whole SKU (its pooled conversion, its stock).

    >>> round(blended_price({"web": 10.0, "app": 40.0}, {"web": 0.5, "app": 0.5}), 6)
    20.0
    """
    total = sum(shares[s] for s in prices)
    return math.exp(sum(shares[s] * math.log(p) for s, p in prices.items()) / total)


def spread_ok(prices: list[float], max_spread: float) -> bool:
    """Whether the highest price is at most ``max_spread`` above the lowest (at the guardrails' precision)."""
    return max(prices) <= min(prices) * (1 + max_spread) + PRICE_TOLERANCE


def band_prices(own: Mapping[str, float], edge: float, max_spread: float, low: float, high: float,
                ) -> dict[str, float]:
    """Each segment's own price clipped into the band [edge, edge x (1 + max_spread)] and the bounds: a
    segment's profit is unimodal in its price, so inside a band this is its best.

    >>> band_prices({"web": 10.0, "app": 15.0, "marketplace": 8.0}, 9.0, 0.5, 1.0, 100.0)
    {'web': 10.0, 'app': 13.5, 'marketplace': 9.0}
    """
    return {name: float(_clip_into_band(p, edge, max_spread, low, high)) for name, p in own.items()}


def _clip_into_band(price, edge, max_spread: float, low: float, high: float):
    """``price`` clipped into [edge, edge x (1 + max_spread)] and the bounds; ``edge`` may be an array."""
    return np.minimum(np.maximum(np.maximum(edge, low), price), np.minimum(edge * (1 + max_spread), high))


def band_edge_range(own: Mapping[str, float], max_spread: float, low: float, high: float) -> tuple[float, float]:
    """The band's lower edges worth trying: from the lowest own price (a lower edge only pulls prices
    down from every segment's optimum) up to the one whose top is the highest own price.

    >>> band_edge_range({"web": 10.0, "app": 15.0, "marketplace": 8.0}, 0.5, 1.0, 100.0)
    (8.0, 10.0)
    """
    spread = 1 + max_spread
    lowest = max(min(own.values()), low / spread)
    return lowest, max(min(max(own.values()), high) / spread, lowest)


def best_band(own: Mapping[str, float], profit: Mapping[str, Callable[[np.ndarray], np.ndarray]],
              max_spread: float, low: float, high: float, points: int = BAND_POINTS,
              ) -> tuple[dict[str, float], set[str]]:
    """The segments' prices inside the spread that earn the most under ``profit`` (per segment, its
    expected profit at each of an array of prices, views share included): each own price clipped into
    the best band of a log grid of ``points`` lower edges. The band search of the oracle
    (``simulator.oracle.segment_oracle_prices``), on a grid. Returns the prices and the segments it moved.

    Two segments whose optima are twice apart, with a spread of 50 %: the band sits nearer the one that
    earns nine times as much (the best edge is 10.29, 10 x (20 / 15) ** 0.1):

    >>> def peak_at(p0, weight):  # a segment that loses profit as its price leaves p0
    ...     return lambda p: weight * (1 - (np.log(p) - np.log(p0)) ** 2)
    >>> own = {"web": 10.0, "app": 20.0}
    >>> prices, moved = best_band(own, {"web": peak_at(10.0, 9.0), "app": peak_at(20.0, 1.0)}, 0.5, 1.0, 100.0)
    >>> round(prices["web"], 1), round(prices["app"], 1), sorted(moved)
    (10.3, 15.4, ['app', 'web'])
    """
    if spread_ok(list(own.values()), max_spread):
        return dict(own), set()
    lo, hi = band_edge_range(own, max_spread, low, high)
    edges = np.geomspace(lo, hi, points) if hi > lo else np.array([lo])
    total = np.zeros_like(edges)
    for name, p in own.items():
        total = total + profit[name](_clip_into_band(p, edges, max_spread, low, high))
    prices = band_prices(own, float(edges[int(np.argmax(total))]), max_spread, low, high)
    return prices, {s for s in own if abs(prices[s] - own[s]) > PRICE_TOLERANCE}


def rounded_into_spread(guarded: Mapping[str, GuardedPrice], old: Mapping[str, float | None],
                        guard: Callable[[float, float | None], GuardedPrice], max_spread: float,
                        ) -> dict[str, GuardedPrice]:
    """Guarded prices rounded into the spread by a cent (``guard(price, old price)``: the SKU's
    guardrails). Prices fitted to the edge of the band keep the spread exactly, and rounding each to a
    whole cent can put the highest half a cent past it. (Step limits alone cannot: each segment stops
    between its old price and its fitted one, both sets inside the spread; but a price held at its step
    limit rounds toward the inside of its step range.) The prices past the band's top cent are rounded
    down to it; where a step limit holds one there, the lowest are rounded up to the band's bottom cent
    instead. The caller checks the spread again.

    >>> from pricestream.domain.guardrails import GuardedPrice
    >>> def guard(price, old):   # at most 10 % a step, in whole cents inside it
    ...     low, high = old * 0.9, old * 1.1
    ...     cents = round(min(max(price, low), high), 2)
    ...     return GuardedPrice(min(max(cents, math.ceil(low * 100) / 100), math.floor(high * 100) / 100), ())
    >>> def rounded(fitted, old):
    ...     guarded = {s: guard(p, old[s]) for s, p in fitted.items()}
    ...     before = spread_ok([g.price for g in guarded.values()], 0.5)
    ...     return before, {s: g.price for s, g in rounded_into_spread(guarded, old, guard, 0.5).items()}
    >>> rounded({"web": 39.59 * 1.5, "marketplace": 39.59}, {"web": 60.0, "marketplace": 40.0})
    (False, {'web': 59.38, 'marketplace': 39.59})
    >>> # both held at their step limits, 30.942 and 20.628: within their steps, 30.95 and 20.63
    >>> rounded({"app": 29.15, "marketplace": 19.43}, {"app": 34.38, "marketplace": 22.92})
    (False, {'app': 30.95, 'marketplace': 20.64})
    """
    prices = [g.price for g in guarded.values()]
    top = math.floor(min(prices) * (1 + max_spread) / CENT + 1e-6) * CENT
    down = {s: g if g.price <= top + PRICE_TOLERANCE else guard(top, old.get(s)) for s, g in guarded.items()}
    if spread_ok([g.price for g in down.values()], max_spread):
        return down
    bottom = math.ceil(max(prices) / (1 + max_spread) / CENT - 1e-6) * CENT
    return {s: g if g.price >= bottom - PRICE_TOLERANCE else guard(bottom, old.get(s)) for s, g in guarded.items()}


def fit_spread(proposals: dict[str, float], shares: dict[str, float], max_spread: float,
               ) -> tuple[dict[str, float], set[str]]:
    """Proposals fitted into the spread: clamped to a band of width ``max_spread`` centred (in logs) on
    their views-weighted mean, so the segments with the most traffic move least. Returns the prices and
    the segments it moved.

    >>> prices, moved = fit_spread({"web": 10.0, "app": 14.4}, {"web": 0.5, "app": 0.5}, 0.2)
    >>> {s: round(p, 4) for s, p in prices.items()}, sorted(moved)
    ({'web': 10.9645, 'app': 13.1353}, ['app', 'web'])
    >>> fit_spread({"web": 10.0, "app": 11.0}, {"web": 0.5, "app": 0.5}, 0.2)[1]
    set()
    """
    if spread_ok(list(proposals.values()), max_spread):
        return dict(proposals), set()
    centre = blended_price(proposals, shares)
    half = math.sqrt(1 + max_spread)
    low, high = centre / half, centre * half
    if high - low > 2 * CENT:       # room for the guardrails' rounding to whole cents, inside the band
        low, high = low + CENT, high - CENT
    fitted = {s: min(max(p, low), high) for s, p in proposals.items()}
    return fitted, {s for s in proposals if abs(fitted[s] - proposals[s]) > PRICE_TOLERANCE}
