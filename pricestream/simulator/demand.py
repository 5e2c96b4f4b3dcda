"""The true demand of a scenario: how many views a period brings and how many of them buy.

Pure functions of the scenario (numpy and the standard library only), shared by the market loop
that draws the random events and by the oracle that scores decisions against the truth.

Views in a period are Poisson with mean ``view_rate`` (or exactly ``round(rate)`` views when the
scenario says views are deterministic); each view buys one unit with probability
``purchase_probability(price, competitor_price)``, independently. So demand in a period is
Poisson(rate x q) (Binomial(n, q) for n deterministic views) and the units sold are that demand
capped at the stock on hand.
"""

from __future__ import annotations

import math

import numpy as np

from pricestream.simulator.scenario import DAY_MS, CalendarSpec, PurchaseSpec, SkuSpec

HOUR_MS = 3_600_000
WEEK_HOURS = 168.0
# 1970-01-01 (epoch day 0) was a Thursday: Monday 00:00 UTC is 3 days before it.
_EPOCH_WEEKDAY = 3
# Prices match a table price at this precision (as the guardrails compare prices).
_PRICE_MATCH = 1e-9


def view_rate(sku: SkuSpec, period_start_ms: int, period_ms: int, start_time_ms: int,
              calendar: tuple[CalendarSpec, ...] = ()) -> float:
    """Expected views in the period ``[period_start_ms, period_start_ms + period_ms)``.

    rate x daily seasonality x weekly seasonality x (1 + trend)^days x active demand shocks, where

    * daily factor ``1 + daily_amplitude * cos(2 pi (hour - peak_hour) / 24)``, hour of day in UTC;
    * weekly factor ``1 + weekly_amplitude * cos(2 pi (weekday - peak_weekday - 0.5) / 7)``, weekday
      as fractional days since Monday 00:00 UTC (the peak is the middle of ``peak_weekday``);
    * the seasonal factors are averaged exactly over the period (so daily periods see the day's
      mean, hourly periods the hour's), starting from the hour of day of ``period_start_ms``;
    * the trend is taken at the middle of the period, days counted from ``start_time_ms``;
    * a demand shock multiplies views by its multiplier for the fraction of the period it covers;
    * a calendar entry (``calendar``: the scenario's) by ``calendar_factor``.

    Over a whole week the seasonal factors average to exactly 1, so with no trend and no shock the
    mean over a week is ``rate_per_period``.

    >>> from pricestream.simulator.scenario import load_scenario
    >>> s = load_scenario("ferreira2018")
    >>> view_rate(s.skus[0], s.period_start(7), s.period_ms, s.start_time_ms)
    1.0
    """
    views = sku.views
    length_h = period_ms / HOUR_MS
    hour0 = (period_start_ms % DAY_MS) / HOUR_MS                                  # hour of day, UTC
    week_hour0 = ((period_start_ms // DAY_MS + _EPOCH_WEEKDAY) % 7) * 24.0 + hour0  # hours since Monday
    omega_d = 2 * math.pi / 24.0
    omega_w = 2 * math.pi / WEEK_HOURS
    phase_d = omega_d * (hour0 - views.peak_hour)
    phase_w = omega_w * (week_hour0 - 24.0 * (views.peak_weekday + 0.5))
    a, b = views.daily_amplitude, views.weekly_amplitude
    # mean over s in [0, length_h] of (1 + a cos(wd s + pd)) (1 + b cos(ww s + pw))
    seasonal = (1.0 + a * _mean_cos(omega_d, phase_d, length_h) + b * _mean_cos(omega_w, phase_w, length_h)
                + 0.5 * a * b * (_mean_cos(omega_d + omega_w, phase_d + phase_w, length_h)
                                 + _mean_cos(omega_d - omega_w, phase_d - phase_w, length_h)))
    days_mid = (period_start_ms + period_ms / 2 - start_time_ms) / DAY_MS
    trend = (1.0 + views.trend_per_day) ** days_mid
    return views.rate_per_period * seasonal * trend * demand_shock_factor(
        sku, period_start_ms, period_ms, start_time_ms) * calendar_factor(
        sku, calendar, period_start_ms, period_ms, start_time_ms)


def calendar_factor(sku: SkuSpec, calendar: tuple[CalendarSpec, ...], period_start_ms: int, period_ms: int,
                    start_time_ms: int) -> float:
    """Product over the calendar entries that concern the SKU of its true lift ** (value x share of the
    period covered): the form the engine's model has (log-linear in the level), with the truth's lifts."""
    factor = 1.0
    end_ms = period_start_ms + period_ms
    for entry in calendar:
        if entry.skus is not None and sku.sku not in entry.skus:
            continue
        lo = max(period_start_ms, start_time_ms + round(entry.start_day * DAY_MS))
        hi = min(end_ms, start_time_ms + round(entry.end_day * DAY_MS))
        if hi > lo:
            lift = next((own.lift for own in sku.views.calendar_lifts if own.effect == entry.effect), entry.lift)
            factor *= lift ** (entry.value * (hi - lo) / period_ms)
    return factor


def demand_shock_factor(sku: SkuSpec, period_start_ms: int, period_ms: int, start_time_ms: int) -> float:
    """Product over the SKU's demand shocks of ``1 + (multiplier - 1) x (share of the period covered)``."""
    factor = 1.0
    end_ms = period_start_ms + period_ms
    for shock in sku.shocks:
        if shock.kind != "demand":
            continue
        lo = max(period_start_ms, start_time_ms + shock.start_day * DAY_MS)
        hi = min(end_ms, start_time_ms + shock.end_day * DAY_MS)
        if hi > lo:
            share = (hi - lo) / period_ms if period_ms > 0 else 1.0
            factor *= 1.0 + (shock.multiplier - 1.0) * share
    return factor


def _mean_cos(omega: float, phase: float, length: float) -> float:
    """Mean of cos(omega s + phase) for s in [0, length]."""
    if length <= 0:
        return math.cos(phase)
    return (math.sin(omega * length + phase) - math.sin(phase)) / (omega * length)


def purchase_probability(purchase: PurchaseSpec, price, competitor_price) -> float:
    """Probability that one view buys at ``price`` when the cheapest competitor in stock asks
    ``competitor_price`` (None: no competitor in stock), clipped to [0, 1]. The constant-elasticity and
    linear forms also take arrays of prices (and of competitor prices) and give an array.

    * constant-elasticity: ``base (p / ref)^e (c / ref)^ce``, the competitor factor 1 when c is None;
    * linear: ``intercept - slope p + competitor_slope (c - ref)``, the competitor term 0 when c is None;
    * table: the probability listed for exactly this price (ValueError for any other price).

    >>> from pricestream.simulator.scenario import PurchaseSpec
    >>> purchase_probability(PurchaseSpec("constant-elasticity", 10.0, 0.1, -2.0), 20.0, None)
    0.025
    >>> purchase_probability(PurchaseSpec("table", prices=(1.0, 2.0), probabilities=(0.5, 0.2)), 2.0, 9.0)
    0.2
    """
    if purchase.form == "table":
        for p, q in zip(purchase.prices, purchase.probabilities):
            if abs(p - price) <= _PRICE_MATCH * max(1.0, abs(p)):
                return float(q)
        raise ValueError(f"price {price} is not one of the table's prices {list(purchase.prices)}")
    if purchase.form == "constant-elasticity":
        if np.any(np.asarray(price) <= 0):
            raise ValueError(f"a price must be positive, not {price}")
        q = purchase.base_probability * (price / purchase.reference_price) ** purchase.elasticity
        if competitor_price is not None and purchase.competitor_elasticity != 0:
            q *= (competitor_price / purchase.reference_price) ** purchase.competitor_elasticity
    elif purchase.form == "linear":
        q = purchase.intercept - purchase.slope * price
        if competitor_price is not None:
            q += purchase.competitor_slope * (competitor_price - purchase.reference_price)
    else:
        raise ValueError(f"unknown purchase form {purchase.form!r}")
    return float(min(1.0, max(0.0, q))) if np.ndim(q) == 0 else np.clip(q, 0.0, 1.0)


def expected_units(rate: float, q: float) -> float:
    """Mean demand in a period: views Poisson(rate), each buying with probability q, is Poisson(rate q)."""
    return rate * q


def expected_sales(mean_demand: float, stock: float) -> float:
    """E[min(D, floor(stock))] for D ~ Poisson(mean_demand): the units a period sells on average.

    Exact: ``m F(s - 1) + s (1 - F(s))`` with F the Poisson cdf and s = floor(stock) (from
    k P(D = k) = m P(D = k - 1)).

    >>> expected_sales(2.0, 0)
    0.0
    >>> round(expected_sales(2.0, 1), 6)       # P(D >= 1) = 1 - e^-2
    0.864665
    >>> expected_sales(2.0, 10_000)
    2.0
    """
    if mean_demand < 0:
        raise ValueError(f"mean demand must be >= 0, not {mean_demand}")
    s = max(0, math.floor(stock))
    if s == 0 or mean_demand == 0:
        return 0.0
    if s > mean_demand + 40.0 * math.sqrt(mean_demand) + 40.0:   # P(D >= s) below 1e-300
        return float(mean_demand)
    cdf = _poisson_cdf(mean_demand, s)          # F(0..s)
    return float(mean_demand * cdf[s - 1] + s * max(0.0, 1.0 - cdf[s]))


def _poisson_cdf(mean: float, upto: int) -> np.ndarray:
    """F(0), ..., F(upto) of Poisson(mean), from log-pmf terms (stable for large means)."""
    k = np.arange(upto + 1, dtype=float)
    log_factorial = np.concatenate(([0.0], np.cumsum(np.log(k[1:]))))
    log_pmf = -mean + k * math.log(mean) - log_factorial
    return np.minimum(np.cumsum(np.exp(log_pmf)), 1.0)


def expected_sales_binomial(n: int, q: float, stock: float) -> float:
    """E[min(B, floor(stock))] for B ~ Binomial(n, q): sales when exactly n views come (ferreira2018).

    >>> expected_sales_binomial(1, 0.3, 1)
    0.3
    >>> expected_sales_binomial(1, 0.3, 0)
    0.0
    """
    if n < 0 or not 0.0 <= q <= 1.0:
        raise ValueError(f"need n >= 0 and q in [0, 1], got n={n}, q={q}")
    s = max(0, math.floor(stock))
    if s == 0 or n == 0 or q == 0.0:
        return 0.0
    if s >= n:
        return float(n * q)
    if q == 1.0:
        return float(min(n, s))
    k = np.arange(n + 1, dtype=float)
    log_choose = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(n + 1)])
    pmf = np.exp(log_choose + k * math.log(q) + (n - k) * math.log1p(-q))
    return float(np.sum(np.minimum(k, s) * pmf))
