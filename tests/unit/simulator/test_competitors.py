from dataclasses import replace

import numpy as np
import pytest

from pricestream.simulator.competitors import CompetitorMarket, Observation
from pricestream.simulator.scenario import (
    DAY_MS, CompetitorSpec, InventorySpec, PurchaseSpec, ShockSpec, SkuSpec, ViewsSpec, load_scenario,
)

HOUR_MS = 3_600_000
START = 1_704_067_200_000


def _sku(*competitors: CompetitorSpec, shocks=()) -> SkuSpec:
    return SkuSpec(sku="S", unit_cost=10.0, list_price=20.0, min_price=11.0, max_price=40.0,
                   views=ViewsSpec(rate_per_period=1.0), purchase=PurchaseSpec("constant-elasticity", 20.0, 0.03),
                   inventory=InventorySpec(initial_on_hand=10), competitors=competitors, shocks=shocks)


def _run(sku: SkuSpec, seed: int, periods: int, our_price=lambda t: 20.0, period_ms: int = HOUR_MS):
    market = CompetitorMarket(sku, np.random.default_rng(seed), period_ms, START)
    history = []
    for t in range(periods):
        observations = market.step(t, our_price(t))
        history.append((tuple(observations), tuple(market.current()), market.cheapest_in_stock()))
    return history


def test_the_same_seed_gives_the_same_competitors_and_another_seed_does_not():
    sku = load_scenario("standard").skus[0]
    assert _run(sku, 11, 500) == _run(sku, 11, 500)
    assert _run(sku, 11, 500) != _run(sku, 12, 500)


def test_floors_ceilings_and_cents_are_respected_under_promotions_wars_and_undercutting():
    wild = CompetitorSpec("wild", 20.0, "random-walk", volatility=0.5, floor=15.0, ceiling=25.0,
                          promo_probability_per_day=0.5, promo_depth=0.5, promo_days=2.0,
                          out_of_stock_probability_per_day=0.3, out_of_stock_days=1.0)
    biter = CompetitorSpec("biter", 20.0, "reactive", volatility=0.2, floor=12.0, ceiling=30.0,
                           react_undercut=0.5, react_probability=0.5)
    sku = _sku(wild, biter, shocks=(ShockSpec("price-war", 5, 10, price_factor=0.3),))
    history = _run(sku, 3, 24 * 20, our_price=lambda t: 5.0 + t % 40)
    seen = {"wild": set(), "biter": set()}
    for _, current, _ in history:
        for obs in current:
            spec = wild if obs.name == "wild" else biter
            assert spec.floor <= obs.price <= spec.ceiling
            assert round(obs.price * 100) == pytest.approx(obs.price * 100, abs=1e-6)
            seen[obs.name].add(obs.price)
    assert min(seen["wild"]) == 15.0 and max(seen["wild"]) == 25.0      # both limits were reached
    assert min(seen["biter"]) == 12.0


def test_every_competitor_is_observed_first_then_every_n_periods_and_on_every_change():
    steady = CompetitorSpec("steady", 20.0, "fixed", observe_every_periods=5)
    walker = CompetitorSpec("walker", 20.0, "random-walk", volatility=0.05, observe_every_periods=1000,
                            out_of_stock_probability_per_day=0.5, out_of_stock_days=0.25)
    history = _run(_sku(steady, walker), 1, 24 * 10)
    assert {o.name for o in history[0][0]} == {"steady", "walker"}
    steady_seen = [t for t, (obs, _, _) in enumerate(history) if any(o.name == "steady" for o in obs)]
    assert steady_seen == list(range(0, 240, 5))
    for t in range(1, len(history)):
        before = {o.name: o for o in history[t - 1][1]}["walker"]
        now = {o.name: o for o in history[t][1]}["walker"]
        observed = any(o.name == "walker" for o in history[t][0])
        assert observed == ((before.price, before.in_stock) != (now.price, now.in_stock))
    walker_prices = {o.price for _, current, _ in history for o in current if o.name == "walker"}
    assert 5 <= len(walker_prices) <= 12                          # repriced once a day
    assert any(not o.in_stock for _, current, _ in history for o in current)


def test_the_cheapest_in_stock_ignores_competitors_out_of_stock():
    cheap = CompetitorSpec("cheap", 10.0, "fixed", out_of_stock_probability_per_day=0.6, out_of_stock_days=1.0)
    dear = CompetitorSpec("dear", 30.0, "fixed")
    history = _run(_sku(cheap, dear), 2, 24 * 10)
    states = {(current[0].in_stock, cheapest) for _, current, cheapest in history}
    assert states == {(True, 10.0), (False, 30.0)}


def test_a_reactive_competitor_undercuts_our_price_but_not_below_its_floor():
    biter = CompetitorSpec("biter", 30.0, "reactive", floor=15.0, react_undercut=0.1, react_probability=1.0)
    history = _run(_sku(biter), 4, 30, our_price=lambda t: 25.0 if t < 10 else (12.0 if t < 20 else 40.0))
    prices = [current[0].price for _, current, _ in history]
    assert prices[0] == 30.0                                      # no reaction before the first step
    assert prices[5] == 22.5                                      # 25 x 0.9
    assert prices[15] == 15.0                                     # 12 x 0.9 is below the floor
    assert prices[25] == 30.0                                     # 40 x 0.9 is above its own price


def test_a_price_war_cuts_the_named_competitor_during_its_days():
    a = CompetitorSpec("a", 20.0, "fixed")
    b = CompetitorSpec("b", 40.0, "fixed")
    sku = _sku(a, b, shocks=(ShockSpec("price-war", 1.0, 2.0, competitor="b", price_factor=0.75),))
    history = _run(sku, 0, 3, period_ms=DAY_MS)
    assert [[o.price for o in current] for _, current, _ in history] == [[20.0, 40.0], [20.0, 30.0], [20.0, 40.0]]


def test_steps_must_be_consecutive():
    market = CompetitorMarket(_sku(CompetitorSpec("a", 20.0)), np.random.default_rng(0), HOUR_MS, START)
    market.step(0, None)
    with pytest.raises(ValueError, match="period 0"):
        market.step(2, None)


def test_the_draws_do_not_depend_on_our_price_for_non_reactive_competitors():
    sku = replace(load_scenario("standard").skus[3])
    sku = replace(sku, competitors=tuple(c for c in sku.competitors if c.process != "reactive"))
    assert _run(sku, 9, 300, our_price=lambda t: 10.0) == _run(sku, 9, 300, our_price=lambda t: 99.0)


def test_observation_is_a_small_value_object():
    assert Observation("a", 1.0, True) == Observation("a", 1.0, True)
