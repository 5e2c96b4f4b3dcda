"""Inventory-theory calculators for replenishment: EOQ, newsvendor, (r,Q), reorder points.

Pure functions of numbers (numpy and the standard library only), so the stream processors can call
them per item without I/O. Equation and example numbers refer to Snyder & Shen, *Fundamentals of
Supply Chain Theory*, 2nd ed. (Wiley, 2019), "S&S" below.

Fast movers use a normal lead-time demand; slow movers (a few units per lead time) use Poisson, or
negative binomial when the variance exceeds the mean, because a normal quantile would put
reorder points at fractions of a unit and misjudge the tail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

_STANDARD_NORMAL = NormalDist()
_TAIL_MASS = 1e-10          # discrete supports are cut where less than this much probability is left
_MAX_SUPPORT = 1 << 24      # refuse to build a pmf longer than this (nonsense inputs, not demand)

Distribution = Literal["normal", "poisson", "negative-binomial"]


# --------------------------------------------------------------------------------------------------
# Deterministic and single-period models


def eoq(order_cost: float, holding_cost: float, demand_rate: float) -> tuple[float, float]:
    """Economic order quantity and its cost per unit time (Harris 1913; S&S eqs. 3.4, 3.5).

    Q* = sqrt(2 K lam / h),  g* = sqrt(2 K lam h).

    S&S Example 3.1:

    >>> q, cost = eoq(8, 0.225, 1300)
    >>> round(q, 7), round(cost, 7)
    (304.04678, 68.4105255)
    """
    if order_cost < 0 or demand_rate < 0:
        raise ValueError("order_cost and demand_rate must be non-negative")
    if holding_cost <= 0:
        raise ValueError("holding_cost must be positive")
    return math.sqrt(2 * order_cost * demand_rate / holding_cost), math.sqrt(2 * order_cost * demand_rate * holding_cost)


def newsvendor_normal(holding_cost: float, stockout_cost: float, mean: float, sd: float) -> float:
    """Optimal base-stock level for normal demand (S&S eq. 4.24).

    S* = mu + sigma z_alpha with the critical ratio alpha = p / (p + h).

    S&S Example 4.3:

    >>> round(newsvendor_normal(0.18, 0.70, 50, 8), 7)
    56.6039559
    """
    if holding_cost <= 0 or stockout_cost <= 0:
        raise ValueError("holding_cost and stockout_cost must be positive")
    return normal_quantile(mean, sd, stockout_cost / (stockout_cost + holding_cost))


# --------------------------------------------------------------------------------------------------
# Normal lead-time demand


def normal_quantile(mean: float, sd: float, prob: float) -> float:
    """F^{-1}(prob) of N(mean, sd^2); a zero sd is deterministic demand, whose quantile is the mean.

    >>> normal_quantile(100, 0, 0.95)
    100.0
    """
    if not 0 < prob < 1:
        raise ValueError("prob must be in (0, 1)")
    if sd < 0:
        raise ValueError("sd must be non-negative")
    return float(mean) if sd == 0 else mean + sd * _STANDARD_NORMAL.inv_cdf(prob)


def normal_loss(z: float) -> float:
    """Standard normal loss function L(z) = E[(Z - z)^+] = phi(z) - z (1 - Phi(z)).

    The upper tail comes from erfc, which keeps its accuracy where 1 - Phi(z) would cancel.

    >>> round(normal_loss(0.0), 10) == round(1 / math.sqrt(2 * math.pi), 10)
    True
    """
    upper_tail = 0.5 * math.erfc(z / math.sqrt(2))
    return max(_STANDARD_NORMAL.pdf(z) - z * upper_tail, 0.0)


def expected_shortage_normal(mean: float, sd: float, reorder_point: float) -> float:
    """Expected units short per cycle, E[(D - r)^+] = sigma L((r - mu) / sigma), for D ~ N(mu, sigma^2).

    >>> expected_shortage_normal(10, 0, 7)
    3.0
    """
    if sd < 0:
        raise ValueError("sd must be non-negative")
    if sd == 0:
        return float(max(mean - reorder_point, 0.0))
    return sd * normal_loss((reorder_point - mean) / sd)


def expected_remaining_lead_time(mean: float, sd: float, elapsed: float) -> float:
    """How much longer an order that has not come after ``elapsed`` is still expected to take, for a lead
    time T ~ N(mean, sd^2): E[T - t | T > t] = sd L(a) / (1 - Phi(a)), a = (t - mean) / sd (the normal's
    mean residual life; L the loss function above). A late order is still coming: the later it is, the
    sooner it is expected, but only slowly (a day past the mean of 8 +- 2 days, in another 1.3 days).

    >>> expected_remaining_lead_time(8, 0, 3)
    5.0
    >>> round(expected_remaining_lead_time(8, 2, 8), 4), round(expected_remaining_lead_time(8, 2, 9), 4)
    (1.5958, 1.2822)
    """
    if sd <= 0:
        return max(float(mean - elapsed), 0.0)
    a = (elapsed - mean) / sd
    if a > 20.0:            # far in the tail, where L(a) cancels: the Mills-ratio limit sd / a
        return sd / a
    return sd * normal_loss(a) / (0.5 * math.erfc(a / math.sqrt(2)))


def remaining_lead_time_points(mean: float, sd: float, elapsed: float, points: int) -> tuple[float, ...]:
    """Equally likely values of how much longer an order that has not come after ``elapsed`` will take,
    for a lead time T ~ N(mean, sd^2): the midpoint quantiles (i + 1/2) / points of T - t given T > t.
    Their average is about ``expected_remaining_lead_time``; the upper ones are the late deliveries
    that empty a shelf, which an average alone hides.

    >>> remaining_lead_time_points(8, 0, 3, 4)
    (5.0,)
    >>> [round(x, 2) for x in remaining_lead_time_points(8, 2, 0, 4)]
    [5.7, 7.36, 8.64, 10.3]
    >>> late = remaining_lead_time_points(8, 2, 9, 64)
    >>> round(sum(late) / len(late), 2), round(expected_remaining_lead_time(8, 2, 9), 2)
    (1.28, 1.28)
    """
    if sd <= 0:
        return (max(float(mean - elapsed), 0.0),)
    a = (elapsed - mean) / sd
    survival = 0.5 * math.erfc(a / math.sqrt(2))          # P(T > t)
    if survival < 1e-300:       # past where the normal's tail is representable: the mean residual life
        return (expected_remaining_lead_time(mean, sd, elapsed),)
    normal = NormalDist()
    # the q-quantile of T given T > t leaves survival x (1 - q) above it
    return tuple(max(mean + sd * -normal.inv_cdf(survival * (1 - (i + 0.5) / points)) - elapsed, 0.0)
                 for i in range(points))


@dataclass(frozen=True, slots=True)
class RQPolicy:
    reorder_point: float
    order_quantity: float
    expected_cost: float        # approximate cost per unit time, g(r, Q)


def r_q_eil(
    holding_cost: float,
    backorder_cost: float,
    order_cost: float,
    annual_demand_mean: float,
    lead_time_demand_mean: float,
    lead_time_demand_sd: float,
    tol: float = 1e-6,
    max_iterations: int = 1000,
) -> RQPolicy:
    """(r, Q) policy by the expected-inventory-level (EIL) approximation (S&S section 5.2, Algorithm 5.1).

    Starting from Q = EOQ, alternate until r and Q both move by at most ``tol``:

        r = F^{-1}(1 - Q h / (p lam))                     (S&S eq. 5.17)
        Q = sqrt(2 lam (K + p n(r)) / h)                   (S&S eq. 5.18)

    with F and n the cdf and loss function of the normal lead-time demand. The cost is
    g(r, Q) = h (r - mu + Q/2) + K lam / Q + p lam n(r) / Q (S&S eq. 5.16). Costs are per unit per year
    when lam is annual demand. This is the iteration of stockpyl's ``r_q_eil_approximation``.

    S&S Example 5.2 (lead time 1/12 year, annual demand sd 150):

    >>> policy = r_q_eil(0.225, 7.5, 8, 1300, 1300 / 12, 150 * math.sqrt(1 / 12))
    >>> round(policy.reorder_point, 4), round(policy.order_quantity, 4)
    (213.9704, 318.5902)
    """
    if holding_cost <= 0 or backorder_cost <= 0 or order_cost <= 0 or annual_demand_mean <= 0:
        raise ValueError("costs and annual demand must be positive")
    mu, sigma = lead_time_demand_mean, lead_time_demand_sd
    h, p, k, lam = holding_cost, backorder_cost, order_cost, annual_demand_mean

    q, _ = eoq(k, h, lam)
    r = 0.0
    q_prev = r_prev = math.inf
    for _ in range(max_iterations):
        if abs(q - q_prev) <= tol and abs(r - r_prev) <= tol:
            break
        q_prev, r_prev = q, r
        stockout_prob = q * h / (p * lam)
        if stockout_prob >= 1:
            # Holding a cycle's stock costs more than backordering a year's demand: the
            # approximation has no reorder point to offer.
            raise ValueError("EIL approximation undefined: Q h >= p lam")
        r = normal_quantile(mu, sigma, 1 - stockout_prob)
        q = math.sqrt(2 * lam * (k + p * expected_shortage_normal(mu, sigma, r)) / h)
    else:
        raise RuntimeError(f"EIL iteration did not converge in {max_iterations} iterations")

    shortage = expected_shortage_normal(mu, sigma, r)
    cost = h * (r - mu + q / 2) + k * lam / q + p * lam * shortage / q
    return RQPolicy(reorder_point=r, order_quantity=q, expected_cost=cost)


# --------------------------------------------------------------------------------------------------
# Discrete lead-time demand for slow movers


def poisson_pmf(mean: float, upto: int) -> np.ndarray:
    """P(D = k) for k = 0..upto, D ~ Poisson(mean), computed in logs so large means do not underflow.

    >>> poisson_pmf(2.0, 3).round(4).tolist()
    [0.1353, 0.2707, 0.2707, 0.1804]
    """
    if mean < 0:
        raise ValueError("mean must be non-negative")
    if upto < 0:
        return np.zeros(0)
    if mean == 0:
        return np.eye(1, upto + 1).ravel()          # all mass at zero
    k = np.arange(1, upto + 1)
    # log p(k) = -mean + sum_{j<=k} log(mean / j)
    log_pmf = np.concatenate(([-mean], -mean + np.cumsum(np.log(mean / k))))
    return np.exp(log_pmf)


def negbin_params(mean: float, var: float) -> tuple[float, float]:
    """Negative binomial (n, p) with the given mean and variance: p = mean / var, n = mean^2 / (var - mean).

    The count of failures before the n-th success, pmf C(k + n - 1, k) p^n (1 - p)^k, has mean
    n (1 - p) / p and variance n (1 - p) / p^2; inverting those gives the formulas above.

    >>> negbin_params(2.0, 6.0)
    (1.0, 0.3333333333333333)
    """
    if not 0 < mean < var:
        raise ValueError("negative binomial needs 0 < mean < var")
    return mean * mean / (var - mean), mean / var


def negbin_pmf(mean: float, var: float, upto: int) -> np.ndarray:
    """P(D = k) for k = 0..upto, D negative binomial with the given mean and variance (Poisson if var <= mean).

    >>> negbin_pmf(2.0, 6.0, 3).round(4).tolist()    # n = 1: geometric with p = 1/3
    [0.3333, 0.2222, 0.1481, 0.0988]
    """
    if mean <= 0 or var <= mean:
        return poisson_pmf(mean, upto)
    if upto < 0:
        return np.zeros(0)
    n, p = negbin_params(mean, var)
    k = np.arange(1, upto + 1)
    # p(k) / p(k-1) = (k - 1 + n) / k * (1 - p), accumulated in logs from p(0) = p^n
    log_pmf = n * math.log(p) + np.concatenate(([0.0], np.cumsum(np.log((k - 1 + n) / k * (1 - p)))))
    return np.exp(log_pmf)


def poisson_cdf(k: float, mean: float) -> float:
    """P(D <= k) for D ~ Poisson(mean).

    >>> round(poisson_cdf(2, 2.0), 6)
    0.676676
    """
    return _cdf_from_pmf(poisson_pmf(mean, math.floor(k)))


def negbin_cdf(k: float, mean: float, var: float) -> float:
    """P(D <= k) for D negative binomial with the given mean and variance (Poisson if var <= mean).

    >>> round(negbin_cdf(0, 2.0, 6.0), 6)
    0.333333
    """
    return _cdf_from_pmf(negbin_pmf(mean, var, math.floor(k)))


def discrete_demand_pmf(mean: float, var: float) -> np.ndarray:
    """pmf on 0..N of Poisson(mean) (var <= mean) or negative binomial (var > mean), N covering all but 1e-10.

    >>> pmf = discrete_demand_pmf(3.0, 3.0)
    >>> bool(abs(pmf.sum() - 1) < 1e-9), bool(abs((np.arange(len(pmf)) * pmf).sum() - 3) < 1e-9)
    (True, True)
    """
    if mean < 0:
        raise ValueError("mean must be non-negative")
    upto = int(mean + 10 * math.sqrt(max(var, mean)) + 10)
    while True:
        pmf = negbin_pmf(mean, var, upto)
        if math.fsum(pmf) >= 1 - _TAIL_MASS:
            return pmf
        if upto > _MAX_SUPPORT:
            raise ValueError(f"demand distribution too heavy-tailed (mean {mean}, var {var})")
        upto *= 2       # heavy negative binomial tails decay slowly; widen until the mass is there


def poisson_quantile(mean: float, prob: float) -> int:
    """Smallest k with P(D <= k) >= prob, D ~ Poisson(mean).

    >>> poisson_quantile(2.0, 0.5), poisson_quantile(2.0, 0.95)
    (2, 5)
    """
    return _quantile_from_pmf(discrete_demand_pmf(mean, mean), prob)


def negbin_quantile(mean: float, var: float, prob: float) -> int:
    """Smallest k with P(D <= k) >= prob, D negative binomial (mean, var); Poisson if var <= mean.

    >>> negbin_quantile(2.0, 6.0, 0.95)
    7
    """
    return _quantile_from_pmf(discrete_demand_pmf(mean, var), prob)


def expected_shortage_discrete(pmf: np.ndarray, reorder_point: float) -> float:
    """Expected units short per cycle, E[(D - r)^+] = sum_k (k - r)^+ P(D = k), pmf indexed by k = 0, 1, ...

    >>> expected_shortage_discrete(np.array([0.5, 0.25, 0.25]), 1)
    0.25
    """
    k = np.arange(len(pmf))
    return float(np.sum(np.maximum(k - reorder_point, 0.0) * pmf))


def fill_rate_discrete(pmf: np.ndarray, reorder_point: float, order_quantity: float) -> float:
    """Type-2 service (fill rate) of an (r, Q) policy: beta = 1 - E[(D_L - r)^+] / Q.

    The usual approximation (e.g. Silver, Pyke & Thomas, *Inventory and Production Management in
    Supply Chains*, 4th ed., ch. 6): it counts every unit of lead-time demand above r as short,
    ignoring the n(r + Q) correction, so it errs towards more stock.

    >>> fill_rate_discrete(np.array([0.5, 0.25, 0.25]), 1, 5)
    0.95
    """
    if order_quantity <= 0:
        raise ValueError("order_quantity must be positive")
    return 1.0 - expected_shortage_discrete(pmf, reorder_point) / order_quantity


# --------------------------------------------------------------------------------------------------
# Reorder points


@dataclass(frozen=True, slots=True)
class ReorderPoint:
    reorder_point: float
    safety_stock: float                 # reorder_point - mean lead-time demand
    distribution: Distribution          # the lead-time demand model used


def lead_time_demand(
    demand_per_day_mean: float,
    demand_per_day_var: float,
    lead_time_days_mean: float,
    lead_time_days_std: float = 0.0,
) -> tuple[float, float]:
    """Mean and variance of demand over a random lead time (law of total variance).

    mean = d L,  var = L var_d + d^2 sd_L^2, for i.i.d. daily demand independent of the lead time
    (e.g. Silver, Pyke & Thomas, *Inventory and Production Management in Supply Chains*, 4th ed., ch. 6).

    >>> lead_time_demand(10, 4, 5, 2)
    (50.0, 420.0)
    """
    if min(demand_per_day_mean, demand_per_day_var, lead_time_days_mean, lead_time_days_std) < 0:
        raise ValueError("demand and lead-time moments must be non-negative")
    mean = float(demand_per_day_mean * lead_time_days_mean)
    var = float(lead_time_days_mean * demand_per_day_var + demand_per_day_mean**2 * lead_time_days_std**2)
    return mean, var


def safety_stock_and_reorder_point(
    lead_time_demand_mean: float,
    lead_time_demand_var: float,
    service_level: float,
    kind: Literal["cycle", "fill-rate"] = "cycle",
    order_quantity: float | None = None,
    discrete: bool = False,
) -> ReorderPoint:
    """Reorder point meeting a service target, and the safety stock it implies.

    - ``kind="cycle"`` (type 1, alpha): r = F^{-1}(alpha), the probability of no stockout in a cycle
      is alpha.
    - ``kind="fill-rate"`` (type 2, beta): the smallest r with E[(D_L - r)^+] <= (1 - beta) Q, the
      standard fill-rate approximation (see ``fill_rate_discrete``); needs ``order_quantity``.

    Lead-time demand is normal unless ``discrete``; then Poisson when var <= mean, else negative
    binomial matched to mean and variance. Discrete reorder points are whole units. A fill-rate r can
    be negative when a cycle's allowed shortage exceeds the mean lead-time demand (order only once
    backorders exist).

    >>> safety_stock_and_reorder_point(100, 400, 0.95)
    ReorderPoint(reorder_point=132.89707253902944, safety_stock=32.89707253902944, distribution='normal')
    >>> safety_stock_and_reorder_point(2.0, 2.0, 0.95, discrete=True)
    ReorderPoint(reorder_point=5, safety_stock=3.0, distribution='poisson')
    """
    mean, var = lead_time_demand_mean, lead_time_demand_var
    if mean < 0 or var < 0:
        raise ValueError("lead-time demand mean and variance must be non-negative")
    if not 0 < service_level < 1:
        raise ValueError("service_level must be in (0, 1)")
    if kind not in ("cycle", "fill-rate"):
        raise ValueError(f"unknown service kind {kind!r}")
    if kind == "fill-rate" and (order_quantity is None or order_quantity <= 0):
        raise ValueError("a fill-rate target needs a positive order_quantity")

    distribution: Distribution
    if not discrete:
        distribution = "normal"
        sd = math.sqrt(var)
        if kind == "cycle":
            r: float = normal_quantile(mean, sd, service_level)
        else:
            r = _normal_fill_rate_reorder_point(mean, sd, (1 - service_level) * order_quantity)
    else:
        distribution = "negative-binomial" if var > mean else "poisson"
        pmf = discrete_demand_pmf(mean, var)
        if kind == "cycle":
            r = _quantile_from_pmf(pmf, service_level)
        else:
            r = _discrete_fill_rate_reorder_point(pmf, (1 - service_level) * order_quantity)
    return ReorderPoint(reorder_point=r, safety_stock=r - mean, distribution=distribution)


# --------------------------------------------------------------------------------------------------
# helpers


def _cdf_from_pmf(pmf: np.ndarray) -> float:
    return min(math.fsum(pmf), 1.0)


def _quantile_from_pmf(pmf: np.ndarray, prob: float) -> int:
    if not 0 <= prob < 1:
        raise ValueError("prob must be in [0, 1)")
    cdf = np.cumsum(pmf)
    # prob within the truncated tail (rounding) lands past the end: the last support point answers
    return min(int(np.searchsorted(cdf, prob, side="left")), len(pmf) - 1)


def _normal_fill_rate_reorder_point(mean: float, sd: float, allowed_shortage: float) -> float:
    """Smallest r with sigma L((r - mu) / sigma) <= allowed_shortage; L is decreasing, so bisect on z."""
    if sd == 0:
        return mean - allowed_shortage
    target = allowed_shortage / sd
    # L(z) > -z, so L(-target) > target: a lower bracket; widen the upper one until L drops below.
    z_lo, z_hi = -target, 1.0
    while normal_loss(z_hi) > target:
        z_hi *= 2
    for _ in range(200):
        z_mid = 0.5 * (z_lo + z_hi)
        if normal_loss(z_mid) > target:
            z_lo = z_mid
        else:
            z_hi = z_mid
        if z_hi - z_lo <= 1e-12 * max(1.0, abs(z_hi)):
            break
    return mean + sd * z_hi


def _discrete_fill_rate_reorder_point(pmf: np.ndarray, allowed_shortage: float) -> int:
    """Smallest integer r with E[(D - r)^+] <= allowed_shortage."""
    k = np.arange(len(pmf))
    # E[(D - r)^+] = sum_{k>r} k p(k) - r P(D > r), from tail sums (small terms added first)
    tail_mass = np.concatenate((np.cumsum(pmf[::-1])[::-1][1:], [0.0]))
    tail_moment = np.concatenate((np.cumsum((k * pmf)[::-1])[::-1][1:], [0.0]))
    shortage = tail_moment - k * tail_mass
    if shortage[0] <= allowed_shortage:
        # Below zero D - r = D + |r| is never negative, so E[(D - r)^+] = E[D] - r exactly.
        return math.ceil(shortage[0] - allowed_shortage)
    meets = shortage <= allowed_shortage
    if not meets.any():
        raise ValueError("fill-rate target too close to 1 for the demand distribution's support")
    return int(np.argmax(meets))
