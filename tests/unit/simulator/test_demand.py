import math
from dataclasses import replace

import numpy as np
import pytest

from pricestream.simulator.demand import (
    HOUR_MS, expected_sales, expected_sales_binomial, expected_units, purchase_probability, view_rate,
)
from pricestream.simulator.scenario import DAY_MS, InventorySpec, PurchaseSpec, ShockSpec, SkuSpec, ViewsSpec

START = 1_704_067_200_000        # Monday 2024-01-01 00:00 UTC


def _sku(**views) -> SkuSpec:
    return SkuSpec(sku="S", unit_cost=10.0, list_price=20.0, min_price=11.0, max_price=40.0,
                   views=ViewsSpec(**{"rate_per_period": 5.0, **views}),
                   purchase=PurchaseSpec("constant-elasticity", 20.0, 0.03, -2.0),
                   inventory=InventorySpec(initial_on_hand=10))


def _rates(sku: SkuSpec, start: int, periods: int, period_ms: int = HOUR_MS) -> np.ndarray:
    return np.array([view_rate(sku, start + t * period_ms, period_ms, START) for t in range(periods)])


@pytest.mark.parametrize("offset_h", [0, 5, 77])
def test_seasonality_averages_to_the_base_rate_over_a_week(offset_h):
    sku = _sku(daily_amplitude=0.6, peak_hour=20.0, weekly_amplitude=0.3, peak_weekday=5)
    rates = _rates(sku, START + offset_h * HOUR_MS, 168)
    assert rates.mean() == pytest.approx(5.0, rel=0.01)
    assert rates.max() > 1.5 * rates.min()                       # there is a real swing


def test_daily_views_peak_at_the_peak_hour_and_weekly_on_the_peak_weekday():
    daily = _rates(_sku(daily_amplitude=0.5, peak_hour=20.0), START, 24)
    assert int(np.argmax(daily)) in (19, 20)                     # the hours around 20:00 UTC
    weekly = _rates(_sku(weekly_amplitude=0.5, peak_weekday=5), START, 7, DAY_MS)
    assert int(np.argmax(weekly)) == 5                           # Saturday (START is a Monday)
    assert weekly.mean() == pytest.approx(5.0 * 24 * DAY_MS / DAY_MS / 24, rel=1e-9)


def test_a_daily_period_averages_the_day():
    sku = _sku(daily_amplitude=0.8)
    assert view_rate(sku, START + 3 * DAY_MS, DAY_MS, START) == pytest.approx(5.0, rel=1e-12)


def test_the_trend_compounds_per_day():
    sku = _sku(trend_per_day=0.01)
    day10 = view_rate(sku, START + 10 * DAY_MS, DAY_MS, START)
    assert day10 == pytest.approx(5.0 * 1.01 ** 10.5)


def test_a_demand_shock_multiplies_views_for_the_share_of_the_period_it_covers():
    sku = replace(_sku(), shocks=(ShockSpec("demand", 2.0, 2.5, multiplier=3.0),
                                  ShockSpec("price-war", 0.0, 10.0, price_factor=0.5)))
    assert view_rate(sku, START + 2 * DAY_MS, HOUR_MS, START) == pytest.approx(15.0)
    assert view_rate(sku, START + 2 * DAY_MS + 12 * HOUR_MS, HOUR_MS, START) == pytest.approx(5.0)
    assert view_rate(sku, START + 2 * DAY_MS, DAY_MS, START) == pytest.approx(5.0 * 2.0)   # half a day x3


def test_purchase_probability_forms():
    ce = PurchaseSpec("constant-elasticity", reference_price=20.0, base_probability=0.04, elasticity=-2.0,
                      competitor_elasticity=1.0)
    assert purchase_probability(ce, 20.0, None) == pytest.approx(0.04)
    assert purchase_probability(ce, 40.0, None) == pytest.approx(0.01)
    assert purchase_probability(ce, 20.0, 30.0) == pytest.approx(0.06)
    assert purchase_probability(ce, 0.1, None) == 1.0                    # clipped
    lin = PurchaseSpec("linear", reference_price=20.0, intercept=0.5, slope=0.01, competitor_slope=0.005)
    assert purchase_probability(lin, 20.0, None) == pytest.approx(0.3)
    assert purchase_probability(lin, 20.0, 30.0) == pytest.approx(0.35)
    assert purchase_probability(lin, 60.0, None) == 0.0                  # clipped
    table = PurchaseSpec("table", prices=(29.9, 34.9), probabilities=(0.8, 0.6))
    assert purchase_probability(table, 34.9, 10.0) == 0.6
    with pytest.raises(ValueError, match="not one of the table"):
        purchase_probability(table, 30.0, None)


def test_expected_units_is_rate_times_probability():
    assert expected_units(40.0, 0.025) == pytest.approx(1.0)


@pytest.mark.parametrize("mean,stock", [(0.7, 1), (3.0, 2), (3.0, 3.9), (12.0, 10), (50.0, 55)])
def test_expected_sales_matches_a_monte_carlo_estimate(mean, stock):
    draws = np.random.default_rng(7).poisson(mean, 400_000)
    estimate = np.minimum(draws, math.floor(stock)).mean()
    assert expected_sales(mean, stock) == pytest.approx(estimate, abs=0.01 + 0.005 * mean)


def test_expected_sales_edge_cases():
    assert expected_sales(5.0, 0) == 0.0
    assert expected_sales(5.0, 0.99) == 0.0                               # fractional stock: floor
    assert expected_sales(0.0, 10) == 0.0
    assert expected_sales(5.0, 1) == pytest.approx(1 - math.exp(-5))
    assert expected_sales(5.0, 1e9) == 5.0
    assert expected_sales(5.0, 60) == pytest.approx(5.0, abs=1e-12)
    assert expected_sales(900.0, 800) == pytest.approx(800.0, rel=1e-3)
    with pytest.raises(ValueError):
        expected_sales(-1.0, 3)


def test_expected_sales_binomial_is_exact():
    assert expected_sales_binomial(1, 0.3, 1) == pytest.approx(0.3)
    assert expected_sales_binomial(1, 0.3, 0) == 0.0
    # n = 3, q = 0.5, stock 1: P(B >= 1) = 7/8
    assert expected_sales_binomial(3, 0.5, 1) == pytest.approx(7 / 8)
    # stock 2: E[min(B, 2)] = 1 x 3/8 + 2 x (3/8 + 1/8)
    assert expected_sales_binomial(3, 0.5, 2.5) == pytest.approx(3 / 8 + 1.0)
    draws = np.random.default_rng(3).binomial(20, 0.3, 200_000)
    assert expected_sales_binomial(20, 0.3, 5) == pytest.approx(np.minimum(draws, 5).mean(), abs=0.01)
