"""Selling a finite stock over a horizon: the single-resource fluid LP, solved exactly and small.

With ``capacity`` units per period to sell (stock on hand / periods until more arrives or the season
ends) and per candidate price its expected units and profit per period, the fluid problem is

    maximise  sum_k x_k profit_k   subject to   sum_k x_k units_k <= capacity,   sum_k x_k <= 1,   x >= 0

(Gallego & van Ryzin 1994; Ferreira, Simchi-Levi & Wang 2018). Its optimum mixes at most two
adjacent prices of the upper concave hull of (units, profit). The learned policy re-solves it every
period with the stock that is left, so rounding the mix to its heavier price is self-correcting:
selling too fast lowers the capacity and the next periods lean to the dearer price.

When more stock arrives at an uncertain time (an open restock order), ``paced_choice_until_uncertain``
takes the horizon as equally likely values instead of one, holds the expected units short before the
arrival to the shop's service target, and among the prices that keep it charges the one whose margin
times its expected sales until then, min(units x horizon, stock), is largest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def upper_hull(units: Sequence[float], profit: Sequence[float]) -> list[int]:
    """Indices of the points (units, profit) with positive profit on the upper concave hull of them and
    the origin, by increasing units: every other point is a mix of these and of not selling, using no
    fewer units and earning no more, so the LP never needs it.

    >>> upper_hull([0.1, 0.3, 0.6, 0.8], [4.49, 11.97, 20.94, 23.92])
    [0, 1, 2, 3]
    >>> upper_hull([0.1, 0.3, 0.6], [4.0, 5.0, 20.0])      # the middle point lies under the chord
    [0, 2]
    """
    order = sorted((i for i in range(len(units)) if profit[i] > 0 and units[i] > 0),
                   key=lambda i: (units[i], -profit[i]))
    hull: list[int] = []
    for i in order:
        if hull and profit[i] <= profit[hull[-1]]:
            continue                                  # more units for no more profit
        while hull:
            x1, y1 = (units[hull[-2]], profit[hull[-2]]) if len(hull) > 1 else (0.0, 0.0)
            x2, y2 = units[hull[-1]], profit[hull[-1]]
            # drop the last point when it lies on or below the chord from its predecessor to i
            if (y2 - y1) * (units[i] - x1) <= (profit[i] - y1) * (x2 - x1):
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def paced_choice(units: Sequence[float], profit: Sequence[float], capacity: float | None) -> tuple[int, bool]:
    """The candidate to charge this period, and whether the stock bound it.

    Without a capacity, or when the most profitable candidate sells within it, that candidate.
    Otherwise the heavier of the two hull prices the fluid LP mixes at this capacity (when the mix is
    with not selling at all, the candidate selling least stands in for not selling).

    >>> units, profit = [0.8, 0.6, 0.3, 0.1], [23.92, 20.94, 11.97, 4.49]     # Ferreira et al.'s instance
    >>> paced_choice(units, profit, None), paced_choice(units, profit, 0.25), paced_choice(units, profit, 0.15)
    ((0, False), (2, True), (3, True))
    """
    units, profit = np.asarray(units, dtype=float), np.asarray(profit, dtype=float)
    best = int(np.lexsort((units, -profit))[0])       # most profit; on a tie, fewer units
    if capacity is None or units[best] <= capacity:
        return best, False
    hull = upper_hull(units, profit)
    if not hull:
        return best, False
    least = int(np.lexsort((-profit, units))[0])
    previous = None                                   # None: the origin, not selling
    for k in hull:
        if units[k] >= capacity:
            low_units = 0.0 if previous is None else units[previous]
            weight = (capacity - low_units) / (units[k] - low_units)
            if weight >= 0.5:
                return k, True
            return (least if previous is None else previous), True
        previous = k
    return best, False


def paced_choice_until_uncertain(units: Sequence[float], margins: Sequence[float], stock: float,
                                 horizons: Sequence[float], service_level: float,
                                 service_kind: str = "fill-rate", cycle_units: float | None = None,
                                 other_profit: Sequence[float] | float = 0.0) -> tuple[int, bool]:
    """The candidate to charge this period when ``stock`` must last until an arrival whose time, in
    periods, is one of the equally likely ``horizons``; and whether the stock bound it.

    Paced to the mean arrival alone, stock that lasts until then on average runs out whenever the
    order is late, and a late order is when the shelf is emptiest. So the candidates are held to the
    shop's service target until the arrival, across its spread: the units short, E[(units x horizon -
    stock)+], at most (1 - target) x ``cycle_units`` (``fill-rate``: the shortage a replenishment
    cycle may have, as the reorder point plans it, with the arriving order's units as the cycle's
    demand; without them, the demand until the arrival), or the chance of running out at most
    1 - target (``cycle``). Among those, the one whose margin times its expected sales
    before the arrival, min(units x horizon, stock), is largest (a unit left when the order lands is
    not lost: it spares one of the order's). When none meets the target, the one that comes closest.
    ``other_profit``: profit per period each candidate earns elsewhere (a watched segment's price lifts
    the follower the other segments sell against), counted until the arrival too.

    >>> units, margins = [0.8, 0.6, 0.3, 0.1], [29.9, 34.9, 39.9, 44.9]       # Ferreira et al.'s instance
    >>> paced_choice_until_uncertain(units, margins, 100.0, [50.0, 100.0], 0.95)    # plenty: the best
    (0, False)
    >>> paced_choice_until_uncertain(units, margins, 40.0, [60.0], 0.95)            # a sure arrival
    (1, True)
    >>> paced_choice_until_uncertain(units, margins, 40.0, [30.0, 90.0], 0.95)      # it may be late
    (2, True)
    >>> paced_choice_until_uncertain(units, margins, 40.0, [30.0, 90.0], 0.5, "cycle")
    (1, True)
    >>> paced_choice_until_uncertain(units, margins, 100.0, [50.0, 100.0], 0.95, other_profit=[0, 0, 20, 0])
    (2, False)
    """
    units, margins = np.asarray(units, dtype=float), np.asarray(margins, dtype=float)
    demand = np.outer(units, np.asarray(horizons, dtype=float))        # candidates x horizons
    stock = max(stock, 0.0)
    if service_kind == "cycle":
        shortfall = (demand > stock).mean(axis=1)                       # chance of running out
        allowed = np.full(len(units), 1.0 - service_level)
    else:
        shortfall = np.maximum(demand - stock, 0.0).mean(axis=1)        # expected units short
        allowed = (1.0 - service_level) * (demand.mean(axis=1) if cycle_units is None
                                           else np.full(len(units), float(cycle_units)))
    other_profit = np.broadcast_to(np.asarray(other_profit, dtype=float), units.shape)
    worth = margins * np.minimum(demand, stock).mean(axis=1) + other_profit * float(np.mean(horizons))
    best = int(np.lexsort((units, -(margins * units + other_profit)))[0])   # most profit a period; tie: fewer units
    ok = shortfall <= allowed + 1e-12
    if ok.any():
        chosen = int(np.lexsort((units, -np.where(ok, worth, -np.inf)))[0])
    else:
        chosen = int(np.lexsort((-worth, shortfall - allowed))[0])
    return chosen, chosen != best
