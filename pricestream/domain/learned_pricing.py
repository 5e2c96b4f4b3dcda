"""Policy ``learned``: the price that maximises expected profit under the learned demand, learning while
earning, paced to the stock, and saying why.

Every period, per SKU:

1. **Candidates.** The allowed price points inside the hard bounds, or a log-spaced grid across the
   bounds (plus the current and list prices). Per-SKU competitor rules remove candidates: too far above
   the cheapest in-stock competitor (``max_above_competitor_pct``), or below the cheapest competitor
   we know of while it is out of stock and we are not (``match_out_of_stock_competitor``).
2. **Thompson sampling.** Expected units per period at each candidate = views forecast x conversion,
   with the conversion taken from one draw of its posterior (``DemandModel.conversion_draw``).
   Greedy certainty-equivalent pricing stops learning (Keskin & Zeevi 2014); a posterior draw explores
   in proportion to what is still unknown, so the exploration fades as the elasticity sharpens. The
   draw is seeded by (seed, SKU, time): the same input and seed give the same prices.
3. **Stock pacing.** When stock cannot be replenished before a known time (the season's end
   ``sell_until_ms`` with restocking off), the fluid LP of ``pacing.paced_choice`` keeps expected sales
   within the stock per remaining period: the price rises when stock is short of demand until then,
   and falls back when cover is enough again. An open restock order's arrival is uncertain (an order
   past its mean lead time is late, not lost), so there ``pacing.paced_choice_until_uncertain`` takes
   its equally likely arrival times (``arrival_horizons_periods``) and holds the expected units short
   before it lands to the catalogue's service target, the shortage a replenishment cycle may have;
   paced to the mean arrival alone, the shelf ran dry in the late deliveries.
4. **Competitors who follow us** (``anticipate_competitors``, on by default). The conversion at each
   candidate is taken at the price where the cheapest competitor would settle if we held it, under the
   kinked response learned per SKU (``competitor_response.KinkedResponse``: ``min(its own level,
   ratio x our price)``): a cut it answers gains only the own-price effect net of the cross-price one,
   so the policy does not cut below the kink just to drag the competitor down.
5. **Within reach of what is known** (``within_reach``): only candidates where the demand is known
   about as well as ``REACH_LOG_DEMAND`` says, widening as the elasticity sharpens: around the list
   price, and upward around the prices the SKU has sold at; stock pacing may still raise the price
   past it. A segment whose price no competitor answers (one they do not watch) is not held in reach.
6. **Reasons.** ``demand-optimal`` when the draw's choice is the posterior mean's, ``exploration``
   when it differs; ``stock-pacing``, ``competitor-cap`` and ``competitor-out-of-stock`` when they
   bound; the guardrails (applied after, by the engine) add their own. The numbers behind the choice
   travel with it.
"""

from __future__ import annotations

import functools
import math
import zlib

import numpy as np

from pricestream.domain.demand_model import DAY_MS
from pricestream.domain.guardrails import hard_bounds
from pricestream.domain.pacing import paced_choice, paced_choice_until_uncertain
from pricestream.domain.pricing import PolicyParams, PriceProposal, PricingContext
from pricestream.domain.replenishment import remaining_lead_time_points
from schemas.records import CatalogEntry

GRID_POINTS = 64                      # candidate prices across the bounds: steps of about 1 % or less
PACING_VIEWS_MAX_PERIODS = 24 * 14    # views are forecast this far at most; beyond, at the same mean rate
REACH_LOG_DEMAND = 0.1               # see within_reach: how far demand may be off where the policy prices
ARRIVAL_POINTS = 16                   # equally likely arrival times an open order is paced over: to its 97th %


def learned_policy(ctx: PricingContext, params: PolicyParams) -> PriceProposal:
    entry, demand = ctx.catalog, ctx.demand
    if demand is None or demand.views is None:
        # nothing learned yet (the first period): keep the price, or start at the list price
        price = ctx.current_price if ctx.current_price is not None else entry.list_price
        return PriceProposal(price, "cold-start", {"list_price": entry.list_price})

    competitor = ctx.cheapest_in_stock_competitor()
    prices = candidate_prices(entry, ctx.current_price)
    more_reasons: list[str] = []
    cap = competitor_cap(entry, competitor)
    if cap is not None and prices[-1] > cap:
        prices = kept_by_rule(prices, prices <= cap, nearest=0)
        more_reasons.append("competitor-cap")
    match_floor = out_of_stock_match_floor(ctx)
    if match_floor is not None and prices[0] < match_floor:
        prices = kept_by_rule(prices, prices >= match_floor, nearest=-1)
        more_reasons.append("competitor-out-of-stock")

    horizon = pacing_horizon_periods(ctx)
    paced_stock = horizon is not None and ctx.on_hand > 0
    capacity = ctx.on_hand / horizon if paced_stock else None
    # views per period: the next period's, or the mean over the stock's horizon when pacing
    span = max(1, math.ceil(min(horizon, PACING_VIEWS_MAX_PERIODS))) if paced_stock else 1
    views_per_period = demand.expected_views(span)[0] / span
    response, kink = demand.competitor_response, demand.competitor_kink
    arrivals = arrival_horizons_periods(ctx) if paced_stock else None

    def choose(prices: np.ndarray):
        """(drawn index, posterior mean's index, whether the stock bound, mean units, the drawn index had
        the stock not bound) over ``prices``."""
        margins = prices - entry.unit_cost
        # optionally, where the cheapest competitor would settle at each candidate: a cut it answers
        # gains less (the oracle counts its answer too)
        settled = kink.settled_competitor_price(competitor, prices) if params.anticipate_competitors else competitor
        drawn_units = views_per_period * demand.conversion_draw(prices, settled, exploration_rng(
            params.seed, ctx.sku, ctx.now_ms))
        mean_units = views_per_period * demand.conversion_draw(prices, settled, None)
        # a watched segment's price moves the follower the other segments sell against too
        drawn_gain, mean_gain = (demand.others_gain(settled, views_per_period, drawn) for drawn in (True, False))
        if arrivals is None:
            (drawn_k, paced), (mean_k, _) = (paced_choice(u, margins * u + gain, capacity)
                                             for u, gain in ((drawn_units, drawn_gain), (mean_units, mean_gain)))
        else:   # an open order whose arrival is uncertain: paced across its spread, to the service target
            (drawn_k, paced), (mean_k, _) = (
                paced_choice_until_uncertain(u, margins, ctx.on_hand, arrivals, entry.service_level,
                                             entry.service_kind, ctx.arriving_units, gain)
                for u, gain in ((drawn_units, drawn_gain), (mean_units, mean_gain)))
        unpaced_k = paced_choice(drawn_units, margins * drawn_units + drawn_gain, None)[0] if paced else drawn_k
        return drawn_k, mean_k, paced, mean_units, unpaced_k

    if demand.price_answered:
        known = demand.best_known_price(competitor)
        in_reach, reach = within_reach(prices, entry.list_price, demand.reach_elasticity_sd, known)
    else:
        # a segment no follower answers: a wrong draw costs a period's profit and is learned from, and
        # drags no competitor down with it, so Thompson sampling alone says how far to explore
        known, in_reach, reach = None, prices, None
    drawn_k, mean_k, paced, mean_units, unpaced_k = choose(in_reach)
    # what the stock is planned for: the price the draw chose within reach had the stock been enough
    unpaced_price = float(in_reach[unpaced_k]) if paced else None
    if paced and prices[-1] > in_reach[-1]:
        # short of stock: pacing may raise the price past the reach, since a price raised to make the
        # stock last sells units that would otherwise run out, whatever the demand at it turns out to be
        in_reach = prices[prices >= in_reach[0]]
        drawn_k, mean_k, paced, mean_units, _ = choose(in_reach)
        unpaced_price = unpaced_price if paced else None
    prices = in_reach

    price = float(prices[drawn_k])
    reason = "demand-optimal" if drawn_k == mean_k else "exploration"
    if paced:
        more_reasons.insert(0, "stock-pacing")
    est = demand.elasticity
    units_old = (None if ctx.current_price is None else
                 views_per_period * float(demand.conversion_draw(np.array([ctx.current_price]), competitor, None)[0]))
    units_new = float(mean_units[drawn_k])
    inputs = {
        "elasticity": est.elasticity, "elasticity_sd": est.elasticity_sd, "cross_elasticity": est.mean[2],
        "optimal_price": float(prices[mean_k]), "expected_units_old": units_old, "expected_units_new": units_new,
        "reach": reach, "reach_known_price": known,
        "competitor_price": competitor, "competitor_follow": response.follow(), "competitor_cap": cap,
        "competitor_out_of_stock_price": match_floor,
        "competitor_follow_ratio": kink.ratio(),
        "competitor_level": None if competitor is None or kink.ratio() is None else kink.level(competitor),
        "on_hand": ctx.on_hand,
        "stock_cover_periods": ctx.on_hand / units_new if units_new > 0 else None,
        "pacing_horizon_periods": horizon, "pacing_capacity": capacity,
        "pacing_late_arrival_periods": None if arrivals is None else arrivals[-1],
        "unpaced_price": unpaced_price,
    }
    return PriceProposal(price, reason, inputs, tuple(more_reasons), unpaced_price)


def within_reach(prices: np.ndarray, list_price: float, elasticity_sd: float, known_price: float | None = None,
                 ) -> tuple[np.ndarray, float]:
    """The candidates no further from the list price than the elasticity is known for, and that reach:
    |log(p / list)| <= ``REACH_LOG_DEMAND`` / sd(elasticity). At that distance the elasticity's own
    uncertainty moves the demand predicted by about ``REACH_LOG_DEMAND`` (one sd, in log units), so a
    price is only chosen where the model's view of demand is about that good. The list price is the
    shop's own, the one price its demand is known at before any is learned; a posterior draw far from it
    is mostly the prior speaking, and a competitor who follows our cuts makes a wrong one costly. The
    reach widens as the elasticity sharpens (sd 1, the pooled prior: 10 %; sd 0.25: 40 %). The nearest
    candidate on each side of the list price is always in reach, so the price can move and be learned.

    Upward, the reach is measured from ``known_price`` when that is above the list price: the price the
    model's data centre on (``ElasticityEstimator.best_known_price``), where demand is known best once
    the SKU has sold above its list price. So a SKU whose optimum lies far above the list price climbs
    as it learns, instead of waiting at the edge of the list price's reach for an elasticity that
    prices held there teach slowly. Cuts stay measured from the list price: they are the moves a
    following competitor answers. (A segment whose price no competitor answers, one they do not watch,
    is not held within reach at all: ``learned_policy``.)

    >>> p, reach = within_reach(np.array([7.0, 8.0, 9.5, 10.0, 10.5, 13.0]), 10.0, 1.0)
    >>> p.tolist(), round(reach, 2)
    ([9.5, 10.0, 10.5], 0.1)
    >>> within_reach(np.array([7.0, 8.0, 9.5, 10.0, 10.5, 13.0]), 10.0, 0.25)[0].tolist()
    [7.0, 8.0, 9.5, 10.0, 10.5, 13.0]
    >>> within_reach(np.array([8.0, 13.0, 20.0]), 10.0, 1.0)[0].tolist()     # a ladder: its two nearest rungs
    [8.0, 13.0]
    >>> within_reach(np.array([20.0, 30.0]), 10.0, 1.0)[0].tolist()          # all above the list price
    [20.0]
    >>> # sold at 12 so far: up to 10 % above that, and still no further below the list price
    >>> within_reach(np.array([7.0, 8.0, 9.5, 10.0, 10.5, 12.0, 13.0, 14.0]), 10.0, 1.0, 12.0)[0].tolist()
    [9.5, 10.0, 10.5, 12.0, 13.0]
    >>> # sold at 8 so far: cuts are still measured from the list price
    >>> within_reach(np.array([7.0, 7.5, 8.0, 9.5, 10.0, 10.5]), 10.0, 1.0, 8.0)[0].tolist()
    [9.5, 10.0, 10.5]
    """
    reach = REACH_LOG_DEMAND / max(elasticity_sd, 1e-9)
    log_distance = np.log(prices / list_price)
    known = 0.0 if known_price is None else math.log(known_price / list_price)
    near = (log_distance >= -reach - 1e-12) & (log_distance <= max(known, 0.0) + reach + 1e-12)
    # the nearest candidate on each side is always in reach: a ladder of price points wider apart than
    # the reach would otherwise hold the list price, never learn, and never widen it
    below, above = np.flatnonzero(log_distance < 0), np.flatnonzero(log_distance > 0)
    if below.size:
        near[below[-1]] = True
    if above.size:
        near[above[0]] = True
    if not near.any():
        near[int(np.argmin(np.abs(log_distance)))] = True
    return prices[near], reach


def candidate_prices(entry: CatalogEntry, current_price: float | None) -> np.ndarray:
    """Ascending prices the policy chooses from, all inside the hard bounds.

    >>> from schemas.examples import catalog_entry
    >>> candidate_prices(catalog_entry(price_points=[9.99, 19.99, 24.99, 99.0]), None).tolist()
    [19.99, 24.99]
    >>> grid = candidate_prices(catalog_entry(min_price=12.0, max_price=30.0), 17.0)
    >>> float(grid[0]), float(grid[-1]), 17.0 in grid, len(grid)
    (12.0, 30.0, True, 66)
    """
    bounds = hard_bounds(entry)
    low, high = bounds.low, max(bounds.high, bounds.low)
    if entry.price_points is not None:
        points = sorted(p for p in entry.price_points if low <= p <= high)
        return np.array(points or [min(entry.price_points, key=lambda p: abs(p - low))], dtype=float)
    grid = _log_grid(low, high)
    extra = [p for p in (current_price, entry.list_price) if p is not None and low <= p <= high]
    return np.unique(np.concatenate([grid, np.array(extra, dtype=float)]))


@functools.lru_cache(maxsize=4096)
def _log_grid(low: float, high: float) -> np.ndarray:
    """The grid of a SKU's bounds (the same every tick until its catalogue entry changes); read-only."""
    grid = np.geomspace(low, high, GRID_POINTS) if high > low else np.array([low])
    grid.flags.writeable = False
    return grid


def kept_by_rule(prices: np.ndarray, keep: np.ndarray, nearest: int) -> np.ndarray:
    """The candidates a competitor rule keeps; when it keeps none, the one nearest to what it asks
    (``nearest``: 0, the lowest, under a cap; -1, the highest, under a floor).

    >>> kept_by_rule(np.array([10.0, 12.0, 14.0]), np.array([10.0, 12.0, 14.0]) <= 9.0, 0).tolist()
    [10.0]
    """
    return prices[keep] if keep.any() else prices[[nearest]]


def competitor_cap(entry: CatalogEntry, competitor: float | None) -> float | None:
    """The highest price the SKU's competitor rule allows, or None when it has none (or no one has stock)."""
    if entry.max_above_competitor_pct is None or competitor is None:
        return None
    return competitor * (1 + entry.max_above_competitor_pct)


def out_of_stock_match_floor(ctx: PricingContext) -> float | None:
    """The lowest price the SKU's rule ``match_out_of_stock_competitor`` allows: the last price of the
    cheapest competitor we know of, while it is out of stock and we have stock (it cannot sell, so a
    price under it gives away margin for sales it would not have taken); None when the rule is off or
    does not apply. It is below the cheapest in-stock competitor, so never above the competitor cap.

    >>> import dataclasses
    >>> from schemas.examples import catalog_entry
    >>> from pricestream.domain.pricing import CompetitorQuote
    >>> quotes = {"a": CompetitorQuote(16.0, True, 0), "b": CompetitorQuote(12.0, False, 0)}
    >>> ctx = PricingContext(catalog_entry(match_out_of_stock_competitor=True), None, quotes, 5, 0)
    >>> out_of_stock_match_floor(ctx), out_of_stock_match_floor(dataclasses.replace(ctx, on_hand=0))
    (12.0, None)
    """
    if not ctx.catalog.match_out_of_stock_competitor or ctx.on_hand <= 0 or not ctx.competitors:
        return None
    cheapest = min(ctx.competitors.values(), key=lambda quote: (quote.price, not quote.in_stock))
    return None if cheapest.in_stock else cheapest.price


def pacing_horizon_periods(ctx: PricingContext) -> float | None:
    """Periods the stock on hand must last: until the earliest open order is expected, or, with restocking
    off, until the season ends. None when nothing bounds it (a restock policy with no order open yet
    is the one that watches the cover then).
    """
    if ctx.period_ms is None or ctx.period_ms <= 0:
        return None
    entry = ctx.catalog
    if entry.restock_enabled:
        until = ctx.next_arrival_ms
    else:
        until = entry.sell_until_ms
    if until is None:
        return None
    return max(1.0, (until - ctx.now_ms) / ctx.period_ms)


def arrival_horizons_periods(ctx: PricingContext) -> tuple[float, ...] | None:
    """Periods until each of ``ARRIVAL_POINTS`` equally likely arrivals of the open order expected first
    (at least one; ``replenishment.remaining_lead_time_points`` for the catalogue's lead time, given the
    order's age), when restocking is on and the lead time is uncertain; else None
    (``pacing_horizon_periods`` alone)."""
    entry = ctx.catalog
    if (not entry.restock_enabled or ctx.open_order_age_ms is None or entry.lead_time_days_std <= 0
            or not ctx.period_ms):
        return None
    remaining = remaining_lead_time_points(entry.lead_time_days_mean * DAY_MS, entry.lead_time_days_std * DAY_MS,
                                           ctx.open_order_age_ms, ARRIVAL_POINTS)
    if len(remaining) < 2:      # so late that the normal's tail is gone: its mean residual life alone
        return None
    return tuple(max(1.0, x / ctx.period_ms) for x in remaining)


def exploration_rng(seed: int, sku: str, now_ms: int) -> np.random.Generator:
    """The generator of one SKU's draw at one time: a function of the seed and the input only."""
    return np.random.default_rng([seed, zlib.crc32(sku.encode()), now_ms // 1000])
