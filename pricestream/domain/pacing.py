"""Selling a finite stock over a horizon: the single-resource fluid LP, solved exactly and small.

With ``capacity`` units per period to sell (stock on hand / periods until more arrives or the season
ends) and per candidate price its expected units and profit per period, the fluid problem is

    maximise  sum_k x_k profit_k   subject to   sum_k x_k units_k <= capacity,   sum_k x_k <= 1,   x >= 0

(Gallego & van Ryzin 1994; Ferreira, Simchi-Levi & Wang 2018). Its optimum mixes at most two
adjacent prices of the upper concave hull of (units, profit). The learned policy re-solves it every
period with the stock that is left, so rounding the mix to its heavier price is self-correcting:
selling too fast lowers the capacity and the next periods lean to the dearer price.
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
