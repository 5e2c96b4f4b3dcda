"""The clairvoyant benchmark: the best a policy could do knowing the true demand.

* ``oracle_price``: in one period, the price maximising expected profit ``(p - cost) x rate x q(p, c)``
  over the allowed prices within the hard bounds (stock ignored; the max step and the minimum time
  between changes do not bind the oracle), with the competitor prices taken as given.
* ``oracle_price_answered``: the same, with the competitors' own prices and the reactive one's rule,
  so its answer to the price counts. Used by the ``unlimited-stock`` oracle, period by period.
* ``segment_oracle_answered``: a segmented SKU's prices, one per segment, with the competitors'
  answers to the price they watch; ``segment_oracle_prices`` takes the competitor prices as given.
* ``fluid_lp_bound``: with a finite stock and no restocking, the deterministic (fluid) LP upper bound
  on expected profit over the horizon (``fluid-lp`` oracle; Ferreira, Simchi-Levi & Wang 2018).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from pricestream.domain.guardrails import PRICE_TOLERANCE, hard_bounds
from pricestream.domain.pacing import upper_hull
from pricestream.domain.segments import band_edge_range, band_prices, spread_ok
from pricestream.simulator.competitors import cheapest_if_held
from pricestream.simulator.demand import purchase_probability
from pricestream.simulator.scenario import SkuSpec

GRID_POINTS = 200              # prices on the grid of a continuum (fallback search and the LP)
PIECE_GRID_POINTS = 24         # per piece of the answered oracle's profit, each unimodal but for cents
WATCHED_GRID_POINTS = 240      # the segment oracle's watched prices across the bounds: steps under 0.5 %
BAND_GRID_POINTS = 33          # and band positions around each: steps of 1/32 of the spread
_GOLDEN = (math.sqrt(5) - 1) / 2


def price_bounds(sku: SkuSpec) -> tuple[float, float]:
    """The hard bounds [low, high] every price of the SKU must lie in (``guardrails.hard_bounds``)."""
    bounds = hard_bounds(sku.catalog_entry(0))
    return bounds.low, bounds.high


def allowed_prices(sku: SkuSpec) -> tuple[float, ...] | None:
    """The SKU's price points inside the hard bounds, ascending; None when any price in the bounds is
    allowed (the continuum)."""
    if sku.price_points is None:
        return None
    low, high = price_bounds(sku)
    return tuple(sorted(p for p in sku.price_points if low - PRICE_TOLERANCE <= p <= high + PRICE_TOLERANCE))


def expected_profit(sku: SkuSpec, price: float, rate: float, competitor_price: float | None) -> float:
    """(price - unit_cost) x rate x q(price, competitor_price): a period's expected profit with no stock limit."""
    return (price - sku.unit_cost) * rate * purchase_probability(sku.purchase, price, competitor_price)


def oracle_price(sku: SkuSpec, rate: float, competitor_price: float | None) -> tuple[float, float]:
    """The price maximising expected profit in a period with ``rate`` expected views and the cheapest
    competitor in stock at ``competitor_price``, and that expected profit.

    Over the allowed price points when the SKU has them; otherwise over the hard bounds, by the closed
    form where there is one (the profit is unimodal in the price, so the unconstrained optimum clipped
    into the bounds is exact):

    * constant elasticity e < -1: p* = cost e / (1 + e), or the price where q reaches 1 if that is
      higher; e >= -1: profit rises with the price, so the upper bound;
    * linear q = A - b p (A includes the competitor term): p* = (A + b cost) / (2 b), or the price
      where q reaches 1 if that is higher.

    Any other case is searched on a grid refined by golden section.

    >>> from pricestream.simulator.scenario import load_scenario
    >>> price, profit = oracle_price(load_scenario("ferreira2018").skus[0], 1.0, None)
    >>> price, round(profit, 4)            # 0.8 x 29.9 beats 0.6 x 34.9, 0.3 x 39.9 and 0.1 x 44.9
    (29.9, 23.92)
    """
    points = allowed_prices(sku)
    if points is not None:
        if not points:
            raise ValueError(f"{sku.sku}: no allowed price point lies inside the hard bounds")
        best = max(points, key=lambda p: (expected_profit(sku, p, rate, competitor_price), -p))
        return best, expected_profit(sku, best, rate, competitor_price)
    low, high = price_bounds(sku)
    candidates = _closed_form_candidates(sku, competitor_price)
    if candidates is None:
        def profit_of(p: float) -> float:
            return expected_profit(sku, p, 1.0, competitor_price)
        best = grid_golden_argmax(profit_of, low, high)
        candidates = [best]
    candidates = [min(max(p, low), high) for p in candidates] + [low, high]
    best = max(candidates, key=lambda p: expected_profit(sku, p, rate, competitor_price))
    return best, expected_profit(sku, best, rate, competitor_price)


def oracle_price_answered(sku: SkuSpec, rate: float, answers: tuple) -> tuple[float, float]:
    """The price maximising a period's expected profit when the competitors that react answer it, and
    that expected profit: the clairvoyant that knows the demand *and* how the competitors price.

    ``answers`` (``CompetitorMarket.answers()``) gives each competitor in stock its own price this
    period and, for a reactive one, its undercut and floor: held at p, the cheapest competitor settles
    at ``cheapest_if_held(answers, p)``. ``oracle_price`` takes the competitor prices that happened
    instead, so it scores a cut that a follower would answer as if it would not, and its figure
    depends on the policy it judges (the follower's prices are the policy's doing). Without a
    reactive competitor in stock the two are the same.

    Between the prices where the cheapest competitor's answer changes form (a follower's own price
    and floor, and every other competitor's price, each over 1 - undercut) it is either fixed or
    follows ours in proportion, so the profit is searched piece by piece (by its closed form for a
    constant elasticity, else ``grid_golden_argmax``) and the edges themselves are candidates.
    """
    if not any(undercut is not None for _, undercut, _ in answers):
        return oracle_price(sku, rate, min((own for own, _, _ in answers), default=None))

    def profit_of(p: float) -> float:
        return expected_profit(sku, p, 1.0, cheapest_if_held(answers, p))

    points = allowed_prices(sku)
    if points:
        best = max(points, key=lambda p: (profit_of(p), -p))
        return best, rate * profit_of(best)
    low, high = price_bounds(sku)
    kinks, just_below = _answer_breakpoints(answers, low, high)
    edges = sorted({low, high} | set(kinks))
    candidates = edges + just_below
    purchase = sku.purchase
    if purchase.form == "constant-elasticity":
        # in each piece the profit (p - cost) p^k is unimodal with its peak at cost k / (1 + k) (k < -1;
        # else it rises to the piece's top): k = e where the cheapest competitor is fixed, e + its
        # cross-elasticity where it follows ours. The peaks clipped into every piece, and the edges
        stationary = [sku.unit_cost * k / (1.0 + k) for k in (purchase.elasticity,
                                                               purchase.elasticity + purchase.competitor_elasticity)
                      if k < -1.0]
        candidates += [min(max(x, a), b) for a, b in zip(edges, edges[1:]) for x in stationary]
        # where every view buys (q clipped at 1) the profit rises with the price up to where q drops below 1
        candidates += [_last_price_all_buy(sku, answers, a, b) for a, b in zip(edges, edges[1:])]
    else:
        for a, b in zip(edges, edges[1:]):
            candidates.append(grid_golden_argmax(profit_of, a, b, points=PIECE_GRID_POINTS))
    best = max(candidates, key=lambda p: (profit_of(p), -p))
    return best, rate * profit_of(best)


def _last_price_all_buy(sku: SkuSpec, answers: tuple, low: float, high: float) -> float:
    """The highest price in [low, high] at which every view still buys (q = 1, by bisection), or low
    when none does: q falls with our price on each piece of ``oracle_price_answered``."""
    def q_at(p: float) -> float:
        return purchase_probability(sku.purchase, p, cheapest_if_held(answers, p))
    if q_at(low) < 1.0:
        return low
    if q_at(high) >= 1.0:
        return high
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if q_at(mid) >= 1.0 else (low, mid)
    return low


def _closed_form_candidates(sku: SkuSpec, competitor_price) -> list | None:
    """Unconstrained maximisers (to be clipped into the bounds), or None when there is no closed form.
    ``competitor_price`` may be an array: the maximisers are then arrays too, one per competitor price."""
    purchase, cost = sku.purchase, sku.unit_cost
    if purchase.form == "constant-elasticity":
        e = purchase.elasticity
        if e >= -1.0 or purchase.base_probability <= 0:
            return [math.inf]                       # profit rises with the price: the upper bound
        factor = purchase.base_probability
        if competitor_price is not None and purchase.competitor_elasticity != 0:
            factor *= (competitor_price / purchase.reference_price) ** purchase.competitor_elasticity
        p_star = cost * e / (1.0 + e)
        p_full = purchase.reference_price * factor ** (-1.0 / e)     # q = 1 at and below this price
        return [_larger(p_star, p_full)]
    if purchase.form == "linear":
        b = purchase.slope
        if b <= 0:
            return None
        a = purchase.intercept
        if competitor_price is not None:
            a += purchase.competitor_slope * (competitor_price - purchase.reference_price)
        p_star = (a + b * cost) / (2.0 * b)
        p_full = (a - 1.0) / b                                     # q = 1 at and below this price
        p_zero = a / b                                             # q = 0 at and above this price
        return [_larger(p_star, p_full), p_zero]
    return None


def _larger(a, b):
    """max(a, b), element by element when either is an array."""
    return max(a, b) if np.ndim(a) == 0 and np.ndim(b) == 0 else np.maximum(a, b)


def grid_golden_argmax(f: Callable[[float], float], low: float, high: float, points: int = GRID_POINTS,
                       tolerance: float = 1e-10) -> float:
    """argmax of f on [low, high]: the best of a grid of ``points`` prices, refined by golden-section
    search between its neighbours (exact for a unimodal f; a close approximation otherwise).

    >>> round(grid_golden_argmax(lambda p: -(p - 3.3) ** 2, 0.0, 10.0), 6)
    3.3
    """
    if high <= low:
        return low
    grid = np.linspace(low, high, points)
    values = [f(float(p)) for p in grid]
    i = int(np.argmax(values))
    a, b = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, points - 1)])
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tolerance * max(1.0, abs(a)):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = f(d)
    best = (a + b) / 2
    return max((best, float(grid[i])), key=f)


def segment_oracle_prices(sku: SkuSpec, competitor_price: float | None) -> dict[str, float]:
    """A segmented SKU's best prices, one per segment, for a period with the cheapest competitor at
    ``competitor_price``: each segment's own optimum when they fit the spread (the highest at most
    ``max_segment_spread_pct`` above the lowest), else the best band of that width. The views' level
    scales every segment alike, so it does not move the prices.

    A segment's profit is unimodal in its price, so within a band its best price is its own optimum
    clipped into it: the search is over the band's lower edge only.

    >>> from pricestream.simulator.scenario import load_scenario
    >>> sku = load_scenario("segmented").skus[0]
    >>> prices = segment_oracle_prices(sku, None)
    >>> max(prices.values()) <= min(prices.values()) * (1 + sku.max_segment_spread_pct) + 1e-9
    True
    """
    specs = {seg.name: (dataclasses.replace(sku, purchase=seg.purchase, segments=()), seg.view_share)
             for seg in sku.segments}
    own = {name: oracle_price(spec, share, competitor_price)[0] for name, (spec, share) in specs.items()}
    spread = sku.max_segment_spread_pct
    if spread_ok(list(own.values()), spread):
        return own
    low, high = price_bounds(sku)

    def profit_at(log_edge: float) -> float:
        prices = band_prices(own, math.exp(log_edge), spread, low, high)
        return sum(expected_profit(spec, p, share, competitor_price)
                   for (spec, share), p in zip(specs.values(), prices.values()))

    lo_edge, hi_edge = (math.log(x) for x in band_edge_range(own, spread, low, high))
    return band_prices(own, math.exp(grid_golden_argmax(profit_at, lo_edge, hi_edge, points=60)), spread, low, high)


def segment_oracle_answered(sku: SkuSpec, answers: tuple) -> tuple[dict[str, float], float]:
    """A segmented SKU's best prices when the reactive competitors answer the price they watch (the
    ``watched_segment``'s, else the lowest), and their expected profit per view: ``oracle_price_answered``
    for segments. Without a reactive competitor in stock it is ``segment_oracle_prices`` at the
    cheapest competitor's own price.

    The competitor's answer depends on the watched price alone, so the search is over it: on a log grid
    across the bounds plus every breakpoint of the answer (``_answer_breakpoints``). Held at a watched
    price p_w, the cheapest competitor settles at c = ``cheapest_if_held(answers, p_w)``; every other
    segment's profit is unimodal in its own price, so its best is its own optimum at c clipped into the
    spread's band, a band that must hold p_w (its lower edge between p_w / (1 + spread) and p_w, on a
    grid). With the lowest price watched, the band's lower edge is p_w. Grids of
    ``WATCHED_GRID_POINTS`` x ``BAND_GRID_POINTS``: within about 1e-4 of the optimum's profit (the tests
    check against a finer search)."""
    if not any(undercut is not None for _, undercut, _ in answers):
        competitor = min((own for own, _, _ in answers), default=None)
        prices = segment_oracle_prices(sku, competitor)
        return prices, segment_oracle_profit(sku, 1.0, competitor, prices)
    low, high = price_bounds(sku)
    spread = 1.0 + sku.max_segment_spread_pct
    names = [seg.name for seg in sku.segments]
    watched = names.index(sku.watched_segment) if sku.watched_segment in names else None
    kinks, just_below = _answer_breakpoints(answers, low, high)
    candidates = np.unique(np.concatenate([np.geomspace(low, high, WATCHED_GRID_POINTS), kinks, just_below]))
    competitor = cheapest_if_held(answers, candidates)[:, None]           # one per watched price
    if watched is None:
        lower = candidates[:, None]                                       # the band's lower edge: p_w
    else:
        lower = candidates[:, None] * spread ** -np.linspace(0.0, 1.0, BAND_GRID_POINTS)[None, :]
    band_low, band_high = np.maximum(lower, low), np.minimum(lower * spread, high)
    total = np.zeros(np.broadcast_shapes(competitor.shape, lower.shape))
    chosen = []
    for i, seg in enumerate(sku.segments):
        if i == watched:
            p = np.broadcast_to(candidates[:, None], total.shape)
        else:
            # its own optimum at each competitor price (the closed form; none: the profit rises to the top)
            own = _closed_form_candidates(dataclasses.replace(sku, purchase=seg.purchase, segments=()), competitor)
            p = np.clip(high if own is None else own[0], low, high)
            p = np.broadcast_to(np.clip(p, band_low, band_high), total.shape)
        chosen.append(p)
        total = total + seg.view_share * (p - sku.unit_cost) * purchase_probability(seg.purchase, p, competitor)
    k = np.unravel_index(int(np.argmax(total)), total.shape)
    return {name: float(p[k]) for name, p in zip(names, chosen)}, float(total[k])


def _answer_breakpoints(answers: tuple, low: float, high: float) -> tuple[list[float], list[float]]:
    """Our prices strictly inside (low, high) where the cheapest competitor's answer changes form
    (``cheapest_if_held``): every competitor price and follower floor over 1 - undercut; and a half cent
    below each, where a follower, showing its answer in cents, still stays at its own price."""
    levels = [own for own, _, _ in answers] + [floor for _, u, floor in answers if u is not None]
    undercuts = [u for _, u, _ in answers if u is not None]
    kinks = [p for u in undercuts for x in levels if low < (p := x / (1.0 - u)) < high]
    just_below = [p for u in undercuts for x in levels if low < (p := (x - 0.005) / (1.0 - u)) < high]
    return kinks, just_below


def segment_oracle_profit(sku: SkuSpec, rate: float, competitor_price: float | None,
                          prices: dict[str, float]) -> float:
    """Expected profit of a segmented SKU's period at ``prices`` (no stock limit)."""
    return sum(expected_profit(dataclasses.replace(sku, purchase=seg.purchase, segments=()), prices[seg.name],
                               rate * seg.view_share, competitor_price) for seg in sku.segments)


def fluid_lp_bound(sku: SkuSpec, rates: Sequence[float], competitor_prices: Sequence[float | None],
                   stock: float) -> float:
    """Deterministic LP upper bound on expected profit over a horizon with ``stock`` units and no
    restocking (``rates[t]`` expected views and ``competitor_prices[t]`` in period t):

        maximise   sum_t sum_k (p_k - cost) r_t q_tk x_tk
        subject to sum_t sum_k r_t q_tk x_tk <= stock,   sum_k x_tk <= 1,   x >= 0

    over the allowed prices p_k; for the continuum, a grid of ``GRID_POINTS`` prices across the hard
    bounds plus each period's oracle price (so it is the continuous bound up to the grid's resolution).
    Solved with HiGHS (``scipy.optimize.linprog``).

    Exact reductions keep the LP small for long horizons: periods with the same competitor price
    (all periods, for a table) share their probabilities and are merged into one block with their
    total views (spread a block's solution evenly over its periods); for constant elasticity without
    clipping, all blocks merge (probabilities are proportional); and a price off the upper concave
    hull of (units, profit) is dropped (a mix of hull prices and not selling does at least as well).

    >>> from pricestream.simulator.scenario import load_scenario
    >>> round(fluid_lp_bound(load_scenario("ferreira2018").skus[0], [1.0] * 500, [None] * 500, 125), 3)
    5050.0
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    if len(rates) != len(competitor_prices):
        raise ValueError(f"{len(rates)} rates but {len(competitor_prices)} competitor prices")
    if stock <= 0:
        return 0.0
    points = allowed_prices(sku)
    low, high = price_bounds(sku)
    grid = np.array(points, dtype=float) if points is not None else np.linspace(low, high, GRID_POINTS)

    # blocks of periods with the same purchase probabilities: competitor price -> total views
    table = sku.purchase.form == "table"
    views: dict[float | None, float] = {}
    for rate, comp in zip(rates, competitor_prices):
        if rate > 0:
            key = None if table else comp
            views[key] = views.get(key, 0.0) + float(rate)
    blocks = []                                   # (total views, prices, purchase probabilities)
    for comp, total in views.items():
        prices = grid if points is not None else np.unique(np.append(grid, oracle_price(sku, 1.0, comp)[0]))
        q = np.array([purchase_probability(sku.purchase, float(p), comp) for p in prices])
        blocks.append((total, prices, q, _competitor_factor(sku, comp)))
    if sku.purchase.form == "constant-elasticity" and len(blocks) > 1 and all(b[2].max() < 1.0 for b in blocks):
        # no probability is clipped at 1, so q = factor(c) x u(p) in every block: one block with
        # factor-weighted views (y' = factor y) is the same LP
        prices = np.unique(np.concatenate([b[1] for b in blocks]))
        u = np.array([purchase_probability(sku.purchase, float(p), None) for p in prices])
        blocks = [(sum(b[0] * b[3] for b in blocks), prices, u, 1.0)]

    objective, rows, cols, vals, caps = [], [], [], [], []
    units_row = len(blocks)                       # the stock constraint is the last row
    n = 0
    for b, (total, prices, q, _) in enumerate(blocks):
        margins = prices - sku.unit_cost
        for k in upper_hull(q, margins * q):     # only these prices can be in an optimal solution
            objective.append(-margins[k] * q[k])
            rows += [b, units_row]
            cols += [n, n]
            vals += [1.0, q[k]]
            n += 1
        caps.append(total)
    if n == 0:
        return 0.0
    caps.append(float(stock))
    a_ub = coo_matrix((vals, (rows, cols)), shape=(len(caps), n)).tocsr()
    result = linprog(np.array(objective), A_ub=a_ub, b_ub=np.array(caps), bounds=(0, None), method="highs")
    if result.status != 0:
        raise RuntimeError(f"{sku.sku}: the fluid LP did not solve: {result.message}")
    return float(-result.fun)


def _competitor_factor(sku: SkuSpec, competitor_price: float | None) -> float:
    purchase = sku.purchase
    if competitor_price is None or purchase.competitor_elasticity == 0:
        return 1.0
    return (competitor_price / purchase.reference_price) ** purchase.competitor_elasticity
