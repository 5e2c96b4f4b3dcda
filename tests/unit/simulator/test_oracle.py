import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pricestream.simulator.competitors import cheapest_if_held
from pricestream.simulator.demand import purchase_probability
from pricestream.simulator.oracle import (
    allowed_prices, expected_profit, fluid_lp_bound, grid_golden_argmax, oracle_price, oracle_price_answered,
    price_bounds, segment_oracle_answered, segment_oracle_prices, segment_oracle_profit,
)
from pricestream.simulator.scenario import InventorySpec, PurchaseSpec, SkuSpec, ViewsSpec, load_scenario


def _sku(purchase: PurchaseSpec, cost: float = 10.0, low: float = 1.0, high: float = 1000.0, **extra) -> SkuSpec:
    return SkuSpec(sku="S", unit_cost=cost, list_price=min(max(20.0, low), high), min_price=low, max_price=high,
                   views=ViewsSpec(rate_per_period=1.0), purchase=purchase,
                   inventory=InventorySpec(initial_on_hand=10), **extra)


def _elastic(e: float, ce: float = 0.0) -> PurchaseSpec:
    return PurchaseSpec("constant-elasticity", reference_price=20.0, base_probability=0.05, elasticity=e,
                        competitor_elasticity=ce)


@pytest.mark.parametrize("e,expected", [(-2.0, 20.0), (-3.0, 15.0), (-1.5, 30.0), (-4.0, 40 / 3)])
def test_constant_elasticity_optimum_is_cost_e_over_one_plus_e(e, expected):
    price, profit = oracle_price(_sku(_elastic(e)), rate=50.0, competitor_price=None)
    assert price == pytest.approx(expected, rel=1e-12)
    assert profit == pytest.approx((expected - 10.0) * 50.0 * purchase_probability(_elastic(e), expected, None))


def test_the_competitor_price_scales_profit_but_not_the_constant_elasticity_optimum():
    sku = _sku(_elastic(-2.0, ce=1.0))
    assert oracle_price(sku, 10.0, 30.0)[0] == pytest.approx(20.0)
    assert oracle_price(sku, 10.0, 30.0)[1] == pytest.approx(1.5 * oracle_price(sku, 10.0, None)[1])


def test_the_optimum_is_clipped_into_narrower_bounds():
    assert oracle_price(_sku(_elastic(-2.0), low=25.0, high=40.0), 1.0, None)[0] == 25.0
    assert oracle_price(_sku(_elastic(-2.0), low=11.0, high=18.0), 1.0, None)[0] == 18.0
    assert oracle_price(_sku(_elastic(-2.0), low=5.0, high=40.0, min_margin=1.5), 1.0, None)[0] == 25.0
    assert oracle_price(_sku(_elastic(-2.0), low=5.0, high=40.0, map_price=22.0), 1.0, None)[0] == 22.0


def test_inelastic_demand_goes_to_the_upper_bound():
    assert oracle_price(_sku(_elastic(-0.8), high=70.0), 1.0, None)[0] == 70.0


def test_linear_demand_optimum_is_a_plus_b_cost_over_two_b():
    # demand rate x q = a - b p with a = 60, b = 2 (rate 100, q = 0.6 - 0.02 p): p* = (a + b c) / (2 b) = 20
    linear = PurchaseSpec("linear", reference_price=20.0, intercept=0.6, slope=0.02, competitor_slope=0.01)
    sku = _sku(linear)
    price, profit = oracle_price(sku, 100.0, None)
    assert price == pytest.approx((60 + 2 * 10.0) / (2 * 2))
    assert profit == pytest.approx((20.0 - 10.0) * (60 - 2 * 20.0))
    # a competitor 10 above the reference adds 0.1 to q: a = 70, p* = 22.5
    assert oracle_price(sku, 100.0, 30.0)[0] == pytest.approx(22.5)
    assert oracle_price(_sku(linear, low=11.0, high=15.0), 100.0, None)[0] == 15.0


def test_table_form_picks_the_best_point():
    sku = load_scenario("ferreira2018").skus[0]
    assert allowed_prices(sku) == (29.9, 34.9, 39.9, 44.9)
    assert oracle_price(sku, 1.0, None)[0] == 29.9            # 0.8 x 29.9 = 23.92 is the most
    skewed = PurchaseSpec("table", prices=(10.0, 12.0, 15.0), probabilities=(0.5, 0.45, 0.2))
    sku = _sku(skewed, cost=5.0, low=10.0, high=15.0, price_points=(10.0, 12.0, 15.0))
    assert oracle_price(sku, 1.0, None) == (12.0, pytest.approx(7 * 0.45))
    # a point outside the hard bounds is not allowed
    narrow = _sku(skewed, cost=5.0, low=10.0, high=11.0, price_points=(10.0, 12.0, 15.0))
    assert allowed_prices(narrow) == (10.0,) and oracle_price(narrow, 1.0, None)[0] == 10.0


def test_price_points_with_a_continuous_demand_model():
    sku = _sku(_elastic(-2.0), price_points=(14.99, 19.99, 24.99, 2000.0))
    assert allowed_prices(sku) == (14.99, 19.99, 24.99)
    assert oracle_price(sku, 1.0, None)[0] == 19.99


def test_grid_and_golden_section_agree_with_the_closed_form():
    sku = _sku(_elastic(-3.0), low=11.0, high=60.0)
    best = grid_golden_argmax(lambda p: expected_profit(sku, p, 1.0, None), 11.0, 60.0)
    assert best == pytest.approx(15.0, rel=1e-6)


@pytest.mark.parametrize("periods", [500, 2000])
def test_the_fluid_bound_of_ferreira2018_is_10_1_per_period(periods):
    scenario = load_scenario("ferreira2018", periods=periods)
    sku = scenario.skus[0]
    stock = sku.initial_on_hand(scenario.periods)
    assert stock == periods // 4
    bound = fluid_lp_bound(sku, [1.0] * periods, [None] * periods, stock)
    assert bound == pytest.approx(10.1 * periods, rel=1e-6)


def test_the_fluid_bound_with_ample_stock_is_the_sum_of_the_per_period_optima():
    rng = np.random.default_rng(5)
    rates = list(rng.uniform(1, 10, 300))
    comps = [None if i % 7 == 0 else float(round(rng.uniform(15, 25), 2)) for i in range(300)]
    for purchase in (_elastic(-2.5, ce=0.8),
                     PurchaseSpec("linear", reference_price=20.0, intercept=0.6, slope=0.02, competitor_slope=0.01)):
        sku = _sku(purchase, low=11.0, high=40.0)
        per_period = sum(oracle_price(sku, r, c)[1] for r, c in zip(rates, comps))
        assert fluid_lp_bound(sku, rates, comps, 1e9) == pytest.approx(per_period, rel=1e-6)
        tight = fluid_lp_bound(sku, rates, comps, 20)
        assert 0 < tight < per_period
        assert tight <= 20 * (40.0 - 10.0) + 1e-6                 # no more than the stock at the top margin


def test_the_fluid_bound_is_zero_without_stock():
    sku = load_scenario("ferreira2018").skus[0]
    assert fluid_lp_bound(sku, [1.0] * 10, [None] * 10, 0) == 0.0


# -- property: the oracle is inside the bounds and no grid price beats it ---------------------------------

_purchases = st.one_of(
    st.builds(lambda q, e, ce: PurchaseSpec("constant-elasticity", 20.0, q, e, ce),
              st.floats(0.001, 2.0), st.floats(-6.0, -0.1), st.floats(-1.0, 2.0)),
    st.builds(lambda a, b, cs: PurchaseSpec("linear", 20.0, intercept=a, slope=b, competitor_slope=cs),
              st.floats(-0.5, 3.0), st.floats(0.0, 0.2), st.floats(-0.05, 0.05)),
)


@settings(max_examples=150, deadline=None)
@given(purchase=_purchases, cost=st.floats(0.5, 50.0), low=st.floats(0.5, 60.0), width=st.floats(0.0, 80.0),
       margin=st.floats(-0.5, 1.0), competitor=st.one_of(st.none(), st.floats(1.0, 80.0)),
       rate=st.floats(0.01, 100.0))
def test_the_oracle_price_is_inside_the_bounds_and_beats_every_grid_price(purchase, cost, low, width, margin,
                                                                          competitor, rate):
    sku = _sku(purchase, cost=cost, low=low, high=low + width + cost * max(0.0, 1 + margin), min_margin=margin)
    lo, hi = price_bounds(sku)
    price, profit = oracle_price(sku, rate, competitor)
    assert lo - 1e-9 <= price <= hi + 1e-9
    assert profit == pytest.approx(expected_profit(sku, price, rate, competitor))
    for p in np.linspace(lo, hi, 301):
        assert profit >= expected_profit(sku, float(p), rate, competitor) - 1e-9 * max(1.0, abs(profit))


# -- the oracle that knows how a reactive competitor answers ----------------------------------------------

def test_against_a_follower_the_oracle_holds_at_the_kink_instead_of_cutting_into_its_answer():
    # own elasticity -2 (alone, the best price is 20), cross 1.5: along the follower's line demand goes as
    # p^-0.5, so every cut it answers loses money; it follows at 3 % under ours from its own 30 down to 22
    sku = _sku(_elastic(-2.0, ce=1.5), low=12.0, high=60.0)
    answers = ((40.0, None, 20.0), (30.0, 0.03, 22.0))
    price, profit = oracle_price_answered(sku, 5.0, answers)
    kink = 30.0 / 0.97
    assert price == pytest.approx(kink, abs=0.01)
    assert cheapest_if_held(answers, price) == 30.0
    # the oracle that takes the follower's 30 as given cuts to 20 and claims more than can be had
    given_price, given_profit = oracle_price(sku, 5.0, 30.0)
    assert given_price == pytest.approx(20.0) and given_profit > profit
    # at 20 the follower answers 19.40, and that price earns less than the kink
    assert expected_profit(sku, 20.0, 5.0, cheapest_if_held(answers, 20.0)) < profit


def test_without_a_reactive_competitor_the_answered_oracle_is_the_plain_one():
    sku = _sku(_elastic(-2.5, ce=1.0), low=5.0, high=80.0)
    answers = ((31.0, None, 20.0), (27.5, None, 20.0))
    assert oracle_price_answered(sku, 3.0, answers) == oracle_price(sku, 3.0, 27.5)
    assert oracle_price_answered(sku, 3.0, ()) == oracle_price(sku, 3.0, None)


@settings(max_examples=100, deadline=None)
@given(purchase=_purchases, cost=st.floats(0.5, 30.0), width=st.floats(5.0, 80.0),
       own=st.lists(st.floats(5.0, 80.0), min_size=1, max_size=3), undercut=st.floats(0.0, 0.1),
       floor_share=st.floats(0.3, 1.0), rate=st.floats(0.01, 100.0))
def test_the_answered_oracle_is_inside_the_bounds_and_beats_every_grid_price(purchase, cost, width, own, undercut,
                                                                             floor_share, rate):
    sku = _sku(purchase, cost=cost, low=cost, high=cost + width)
    # the last competitor reacts: it undercuts ours, down to its floor
    answers = tuple((round(p, 2), None, 1.0) for p in own[:-1]) + ((round(own[-1], 2), undercut,
                                                                     round(own[-1] * floor_share, 2)),)
    lo, hi = price_bounds(sku)
    price, profit = oracle_price_answered(sku, rate, answers)
    assert lo - 1e-9 <= price <= hi + 1e-9
    assert profit == pytest.approx(expected_profit(sku, price, rate, cheapest_if_held(answers, price)))
    # within the follower's cent rounding of its answer (a sawtooth of relative height ~ cent / price)
    slack = 2e-3 * max(1.0, abs(profit))
    for p in np.linspace(lo, hi, 401):
        assert profit >= expected_profit(sku, float(p), rate, cheapest_if_held(answers, float(p))) - slack


# -- segments: the reacting competitor answers the price it watches -----------------------------------------

def _segment_profit(sku, prices: dict, answers) -> float:
    """A view's expected profit at ``prices``, the competitor settled on the watched (else lowest) price,
    from the scalar functions alone."""
    watched = prices[sku.watched_segment] if sku.watched_segment else min(prices.values())
    return segment_oracle_profit(sku, 1.0, cheapest_if_held(answers, watched), prices)


def test_the_segment_oracle_holds_the_watched_price_at_the_followers_kink():
    sku = load_scenario("segmented").skus[0]          # web watched; the follower undercuts by 2.3 %, floor 11.28
    answers = ((16.02, None, 8.81), (16.27, None, 8.95), (16.11, 0.023, 11.28))
    prices, profit = segment_oracle_answered(sku, answers)
    # web at its follower's kink: the cheapest own price, 16.02, over 1 - 2.3 %: a lower web price is answered
    assert prices["web"] == pytest.approx(16.02 / 0.977, abs=0.01)
    assert cheapest_if_held(answers, prices["web"]) == 16.02
    assert profit == pytest.approx(_segment_profit(sku, prices, answers))
    assert max(prices.values()) <= min(prices.values()) * (1 + sku.max_segment_spread_pct) + 1e-9
    # the oracle that takes 16.02 as given cuts web to 11.08 and claims more than can be had: the follower
    # answers that at its floor, 11.28, and there the segments earn less than at the kink
    given = segment_oracle_prices(sku, 16.02)
    assert given["web"] < 12.0 and segment_oracle_profit(sku, 1.0, 16.02, given) > profit
    assert _segment_profit(sku, given, answers) < profit


def test_without_a_reactive_competitor_the_segment_oracle_is_the_given_prices_one():
    sku = load_scenario("segmented").skus[1]
    answers = ((14.0, None, 8.0), (13.5, None, 8.0))
    prices, profit = segment_oracle_answered(sku, answers)
    assert prices == segment_oracle_prices(sku, 13.5)
    assert profit == pytest.approx(segment_oracle_profit(sku, 1.0, 13.5, prices))


@settings(max_examples=25, deadline=None)
@given(index=st.integers(0, 10), watch_lowest=st.booleans(),
       own=st.lists(st.floats(0.6, 1.4), min_size=1, max_size=3), undercut=st.floats(0.0, 0.08),
       floor_share=st.floats(0.5, 1.0))
def test_the_segment_oracle_keeps_the_spread_and_beats_every_profile_of_a_grid(index, watch_lowest, own, undercut,
                                                                             floor_share):
    sku = [s for s in load_scenario("segmented").skus if s.segments][index]     # SEG-06 is not segmented
    if watch_lowest:
        sku = dataclasses.replace(sku, watched_segment=None)
    ref = sku.list_price
    # competitors' own prices around the list price; the last one reacts, down to its floor
    answers = tuple((round(ref * x, 2), None, 1.0) for x in own[:-1]) + (
        (round(ref * own[-1], 2), undercut, round(ref * own[-1] * floor_share, 2)),)
    low, high = price_bounds(sku)
    spread = 1 + sku.max_segment_spread_pct
    prices, profit = segment_oracle_answered(sku, answers)
    assert all(low - 1e-9 <= p <= high + 1e-9 for p in prices.values())
    assert max(prices.values()) <= min(prices.values()) * spread + 1e-9
    assert profit == pytest.approx(_segment_profit(sku, prices, answers), rel=1e-9)
    names = [seg.name for seg in sku.segments]
    best = 0.0
    for combo in itertools.product(np.geomspace(low, high, 21), repeat=len(names)):
        if max(combo) <= min(combo) * spread:
            best = max(best, _segment_profit(sku, dict(zip(names, map(float, combo))), answers))
    # within the follower's cent rounding of its answer
    assert profit >= best - 2e-3 * max(profit, 1e-9)
