"""The learned policy: profit-optimal under what it knows, exploring as much as it does not know, paced
to the stock, inside every guardrail, and reproducible."""

import math
import statistics

import numpy as np
from hypothesis import given, settings, strategies as st

from pricestream.domain.demand_model import DemandModel, PeriodCounts
from pricestream.domain.guardrails import PRICE_TOLERANCE, apply_guardrails, hard_bounds
from pricestream.domain.inventory import Stock
from pricestream.domain.learned_pricing import ARRIVAL_POINTS, learned_policy
from pricestream.domain.pricing import CompetitorQuote, PolicyParams, PricingContext
from pricestream.domain.replenishment import remaining_lead_time_points
from schemas.codec import catalog_problem
from schemas.examples import catalog_entry
from tests.unit.domain.strategies import catalogs, prices

HOUR_MS = 3_600_000


def demand_model(list_price: float, elasticity: float, sd: float, views: int = 40) -> DemandModel:
    """A demand model that has seen a few periods of ``views`` views, with the given elasticity posterior."""
    model = DemandModel.new(list_price, prior_elasticity=elasticity)
    for _ in range(3):
        model.close_period(PeriodCounts(views=views, units=1), list_price, None, HOUR_MS)
    est = model.elasticity
    est.mean = [math.log(0.03), elasticity, 0.5]
    est.precision = np.diag([1e4, 1 / sd ** 2, 1e4]).tolist()
    return model


def context(entry, model, *, now=10 * HOUR_MS, price=None, on_hand=1e6, competitors=None, arrival=None, sku="S",
            order_age=None, arriving=None):
    return PricingContext(catalog=entry, current_price=price, competitors=competitors or {}, on_hand=on_hand,
                          now_ms=now, sku=sku, demand=model, period_ms=HOUR_MS, next_arrival_ms=arrival,
                          open_order_age_ms=order_age, arriving_units=arriving)


def wide_entry(**overrides):
    return catalog_entry(unit_cost=10.0, min_price=11.0, max_price=60.0, list_price=20.0, **overrides)


def test_before_any_period_is_learned_the_list_price_stands():
    proposal = learned_policy(context(wide_entry(), DemandModel.new(20.0)), PolicyParams())
    assert proposal.price == 20.0 and proposal.reason == "cold-start"


def test_with_a_sharp_posterior_the_price_is_the_profit_optimum():
    # constant elasticity -3 and cost 10: p* = 10 x 3 / 2 = 15
    model = demand_model(20.0, -3.0, sd=0.001)
    proposal = learned_policy(context(wide_entry(), model), PolicyParams())
    assert proposal.reason == "demand-optimal"
    assert abs(proposal.price - 15.0) / 15.0 < 0.02
    assert proposal.inputs["elasticity"] == -3.0


def test_exploration_shrinks_as_the_elasticity_sharpens():
    def spread(sd):
        model = demand_model(20.0, -3.0, sd=sd)
        chosen = [learned_policy(context(wide_entry(), model, now=t * HOUR_MS), PolicyParams()).price
                  for t in range(200)]
        return statistics.pstdev(math.log(p) for p in chosen)

    wide, narrow, sharp = spread(0.8), spread(0.2), spread(0.01)
    assert wide > narrow > sharp
    assert sharp < 0.02        # the grid's resolution: neighbouring candidates are ~1.5 % apart


def test_the_price_stays_within_reach_of_the_list_price_until_the_elasticity_is_known():
    # the posterior says -3 (optimum 15, 29 % under the list price of 20): with sd 1 (the prior's spread)
    # no draw may leave 10 % of the list price, with sd 0.25 the reach is 40 % and the optimum is let in
    for sd, reach in ((1.0, 0.1), (0.5, 0.2)):
        chosen = [learned_policy(context(wide_entry(), demand_model(20.0, -3.0, sd=sd), now=t * HOUR_MS),
                                 PolicyParams(seed=7)) for t in range(10, 60)]
        assert all(abs(math.log(p.price / 20.0)) <= reach + 1e-9 for p in chosen)
        assert all(p.inputs["reach"] == reach for p in chosen)
        assert min(p.price for p in chosen) < 20.0 * math.exp(-0.8 * reach)     # and it uses that room
    sharp = learned_policy(context(wide_entry(), demand_model(20.0, -3.0, sd=0.25)), PolicyParams(seed=7))
    assert sharp.price < 17.0


def test_above_the_list_price_the_reach_follows_the_prices_the_sku_has_sold_at():
    # a SKU that has sold at 24 and 28 (list 20) for weeks: its demand is known best there, so the
    # reach upward is measured from there; cuts stay measured from the list price
    model = DemandModel.new(20.0)
    rng = np.random.default_rng(3)
    for t in range(600):
        price = 24.0 if t % 2 else 28.0
        units = int(rng.poisson(40 * 0.03 * (price / 20.0) ** -1.2))     # optimum at the upper bound
        model.close_period(PeriodCounts(views=40, units=units), price, None, HOUR_MS)
    known = model.best_known_price(None)
    assert 24.0 < known < 28.0
    chosen = [learned_policy(context(wide_entry(), model, now=t * HOUR_MS), PolicyParams(seed=7))
              for t in range(700, 760)]
    reach = chosen[0].inputs["reach"]
    assert reach < math.log(known / 20.0)           # the list price's reach alone would not get there
    assert max(p.price for p in chosen) > 20.0 * math.exp(reach) + 0.5      # past the list price's reach
    assert all(math.log(p.price / known) <= reach + 0.02 for p in chosen)   # the grid's step: ~1.3 %
    assert all(math.log(p.price / 20.0) >= -reach - 1e-9 for p in chosen)


def test_the_same_input_and_seed_give_the_same_price_and_other_seeds_explore_differently():
    model = demand_model(20.0, -2.5, sd=0.8)
    ctx = context(wide_entry(), model)
    first = learned_policy(ctx, PolicyParams(seed=7))
    assert learned_policy(ctx, PolicyParams(seed=7)) == first
    others = {learned_policy(ctx, PolicyParams(seed=s)).price for s in range(20)}
    assert len(others) > 3


def test_stock_short_of_demand_until_the_season_ends_raises_the_price():
    entry = wide_entry(restock_enabled=False, sell_until_ms=110 * HOUR_MS)
    model = demand_model(20.0, -3.0, sd=0.001, views=100)
    free = learned_policy(context(entry, model, on_hand=1e6), PolicyParams())
    # at 15 the SKU sells ~100 x 0.03 x (15/20)^-3 = 7 units a period; 100 units for 100 periods is ~1
    short = learned_policy(context(entry, model, on_hand=100), PolicyParams())
    assert "stock-pacing" in short.more_reasons and "stock-pacing" not in free.more_reasons
    assert short.price > 1.5 * free.price
    assert short.inputs["pacing_capacity"] == 1.0


def test_pacing_may_raise_the_price_past_the_reach_of_a_young_model():
    entry = wide_entry(restock_enabled=False, sell_until_ms=110 * HOUR_MS)
    model = demand_model(20.0, -3.0, sd=1.0, views=100)         # reach: 10 % around the list price of 20
    free = learned_policy(context(entry, model, on_hand=1e6), PolicyParams())
    short = learned_policy(context(entry, model, on_hand=30), PolicyParams())
    assert abs(math.log(free.price / 20.0)) <= 0.1 + 1e-9
    assert "stock-pacing" in short.more_reasons and short.price > 20.0 * math.exp(0.1) + 1e-9


def test_a_paced_price_carries_the_price_the_same_draw_chose_with_stock_enough_which_stock_is_planned_for():
    entry = wide_entry(restock_enabled=False, sell_until_ms=110 * HOUR_MS)
    model = demand_model(20.0, -3.0, sd=1.0, views=100)
    free = learned_policy(context(entry, model, on_hand=1e6), PolicyParams())
    short = learned_policy(context(entry, model, on_hand=30), PolicyParams())
    assert free.unpaced_price is None and free.planning_price(free.price) == free.price
    assert "stock-pacing" in short.more_reasons and short.price > free.price
    # within the reach the free price was chosen in, not the wider range pacing may take the price to
    assert short.unpaced_price == free.price == short.inputs["unpaced_price"]
    assert short.planning_price(short.price) == free.price
    assert short.planning_price(0.9 * free.price) == 0.9 * free.price     # guarded below it: the lower


def test_an_open_order_bounds_the_pacing_horizon_when_restocking_is_on():
    entry = wide_entry(restock_enabled=True)
    model = demand_model(20.0, -3.0, sd=0.001, views=100)
    no_order = learned_policy(context(entry, model, on_hand=10), PolicyParams())
    soon = learned_policy(context(entry, model, on_hand=10, arrival=11 * HOUR_MS), PolicyParams())
    late = learned_policy(context(entry, model, on_hand=10, arrival=60 * HOUR_MS), PolicyParams())
    assert no_order.inputs["pacing_horizon_periods"] is None and soon.price == no_order.price
    assert "stock-pacing" in late.more_reasons and late.price > soon.price


def test_an_order_past_its_mean_lead_time_is_late_not_lost_so_the_stock_is_paced_until_it_lands():
    entry = wide_entry(restock_enabled=True)
    model = demand_model(20.0, -3.0, sd=0.001, views=100)      # ~7 units a period at its optimum
    stock = Stock(on_hand=10)
    stock.place("r1", 100, 0)
    lead, lead_sd, now = 40 * HOUR_MS, 10 * HOUR_MS, 50 * HOUR_MS     # one sd past its mean
    due = stock.next_arrival_ms(lead)
    late = stock.next_arrival_ms(lead, lead_sd, now)
    assert due < now
    # E[T - t | T > t] for t one sd past the mean: sd x L(1) / (1 - Phi(1)) = 0.525 sd
    assert abs((late - now) - 0.525 * lead_sd) < 0.01 * lead_sd
    by_mean = learned_policy(context(entry, model, now=now, on_hand=10, arrival=due), PolicyParams())
    by_residual = learned_policy(context(entry, model, now=now, on_hand=10, arrival=late), PolicyParams())
    assert "stock-pacing" not in by_mean.more_reasons
    assert "stock-pacing" in by_residual.more_reasons and by_residual.price > by_mean.price


def test_an_uncertain_arrival_is_paced_across_its_spread_to_the_service_target():
    """At its mean lead time an order is expected in 0.8 sd (8 hours): 60 units outlast 8 hours at the
    optimum's ~7 an hour, so pacing to that expectation alone lets the price be. But the order comes
    later one time in three or so, and with 100 units arriving a 98 % fill allows 2 short: across the
    arrival's spread the price rises until the expected shortfall is within that."""
    entry = wide_entry(restock_enabled=True, service_level=0.98, lead_time_days_mean=40 / 24,
                       lead_time_days_std=10 / 24)
    model = demand_model(20.0, -3.0, sd=0.001, views=100)
    stock = Stock(on_hand=60)
    stock.place("r1", 100, 0)
    lead, lead_sd, now = 40 * HOUR_MS, 10 * HOUR_MS, 40 * HOUR_MS
    age = now - stock.ordered_at["r1"]
    expected = stock.next_arrival_ms(lead, lead_sd, now)
    points = [now + x for x in remaining_lead_time_points(lead, lead_sd, age, ARRIVAL_POINTS)]
    assert abs((expected - now) - 0.798 * lead_sd) < 0.01 * lead_sd and max(points) > now + 2 * lead_sd

    def policy(on_hand, **arrival):
        return learned_policy(context(entry, model, now=now, on_hand=on_hand, arrival=expected, **arrival),
                              PolicyParams())

    by_mean = policy(60)
    by_spread = policy(60, order_age=age, arriving=100)
    assert "stock-pacing" not in by_mean.more_reasons
    assert "stock-pacing" in by_spread.more_reasons and by_spread.price > by_mean.price
    # at the chosen price the expected units short before the order lands are within 2 % of its 100
    units = by_spread.inputs["expected_units_new"]
    short = statistics.fmean(max(units * (t - now) / HOUR_MS - 60, 0.0) for t in points)
    assert short <= 0.02 * 100 + 1e-9
    # with plenty on hand, the spread changes nothing
    assert policy(1000, order_age=age, arriving=100).price == policy(1000).price


def test_the_competitor_rule_caps_the_price_and_says_so():
    entry = wide_entry(max_above_competitor_pct=0.05)
    model = demand_model(20.0, -1.5, sd=0.001)        # p* = 30, but the rival sells at 16
    rivals = {"a": CompetitorQuote(16.0, True, 0), "b": CompetitorQuote(12.0, False, 0)}
    proposal = learned_policy(context(entry, model, competitors=rivals), PolicyParams())
    assert proposal.price <= 16.0 * 1.05 + 1e-9
    assert "competitor-cap" in proposal.more_reasons
    assert proposal.inputs["competitor_price"] == 16.0


def test_the_out_of_stock_rule_matches_a_cheaper_competitor_that_cannot_sell():
    # p* = 15 (elasticity -3, cost 10); the cheapest competitor, at 18, is out of stock, another sells at 25
    rivals = {"a": CompetitorQuote(25.0, True, 0), "b": CompetitorQuote(18.0, False, 0)}
    model = demand_model(20.0, -3.0, sd=0.001)
    ruled = learned_policy(context(wide_entry(match_out_of_stock_competitor=True), model, competitors=rivals),
                           PolicyParams())
    assert ruled.price >= 18.0 and "competitor-out-of-stock" in ruled.more_reasons
    assert ruled.inputs["competitor_out_of_stock_price"] == 18.0
    # without the rule, or once it is back in stock, or when we are out of stock too: the demand's optimum
    free = [learned_policy(context(entry, model, competitors=quotes, on_hand=on_hand), PolicyParams())
            for entry, quotes, on_hand in (
                (wide_entry(), rivals, 1e6),
                (wide_entry(match_out_of_stock_competitor=True), {**rivals, "b": CompetitorQuote(18.0, True, 0)}, 1e6),
                (wide_entry(match_out_of_stock_competitor=True), rivals, 0))]
    for proposal in free:
        assert proposal.price < 16.0 and "competitor-out-of-stock" not in proposal.more_reasons


def test_price_points_are_learned_one_by_one():
    # the log-log form says 29.9 (the lowest price) is best; the points' own data say 39.9
    entry = catalog_entry(unit_cost=1e-6, min_price=29.9, max_price=44.9, list_price=34.9, min_margin=0,
                          price_points=[29.9, 34.9, 39.9, 44.9], max_step_pct=1.0)
    model = DemandModel.new(34.9, prior_elasticity=-0.5)
    truth = {29.9: 0.2, 34.9: 0.3, 39.9: 0.3, 44.9: 0.1}
    for price, q in truth.items():
        for _ in range(50):
            model.close_period(PeriodCounts(views=10, units=round(10 * q)), price, None, HOUR_MS,
                               price_points=True)
    choices = [learned_policy(context(entry, model, now=t * HOUR_MS), PolicyParams()).price for t in range(50)]
    assert statistics.mode(choices) == 39.9


@st.composite
def demand_states(draw, list_price):
    model = DemandModel.new(list_price, prior_elasticity=draw(st.floats(-8, 2)))
    period = draw(st.sampled_from([60_000, HOUR_MS, 24 * HOUR_MS]))
    for views, units in draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 50)), min_size=1,
                                      max_size=4)):
        model.close_period(PeriodCounts(views=views, units=units), list_price, None, period, price_points=True)
    est = model.elasticity
    est.mean = [draw(st.floats(-12, 3)), draw(st.floats(-10, 3)), draw(st.floats(-3, 3))]
    est.precision = np.diag([10 ** draw(st.floats(-2, 6)) for _ in range(3)]).tolist()
    return model


@settings(max_examples=300, deadline=None)
@given(st.data(), catalogs(), st.none() | prices, st.lists(st.tuples(prices, st.booleans()), max_size=3),
       st.floats(min_value=-5, max_value=1e6), st.none() | st.integers(0, 1000 * HOUR_MS),
       st.none() | st.integers(0, 1000 * HOUR_MS),
       st.none() | st.floats(min_value=0, max_value=1e6))
def test_no_catalogue_competitor_or_demand_state_makes_the_policy_break_a_guardrail(
        data, entry, old_price, rivals, on_hand, arrival, order_age, arriving):
    if catalog_problem(entry) is not None:
        return          # dead-lettered before it reaches the engine
    model = data.draw(demand_states(entry.list_price))
    competitors = {f"c{i}": CompetitorQuote(p, s, 0) for i, (p, s) in enumerate(rivals)}
    ctx = PricingContext(catalog=entry, current_price=old_price, competitors=competitors, on_hand=on_hand,
                         now_ms=5 * HOUR_MS, sku="S", demand=model, period_ms=model.period_ms,
                         next_arrival_ms=arrival, open_order_age_ms=order_age, arriving_units=arriving)
    proposal = learned_policy(ctx, PolicyParams(seed=data.draw(st.integers(0, 2 ** 32))))
    assert math.isfinite(proposal.price)
    assert all(v is None or math.isfinite(v) for v in proposal.inputs.values())
    result = apply_guardrails(proposal.price, old_price, entry)
    bounds = hard_bounds(entry)
    assert math.isfinite(result.price)
    assert bounds.low - PRICE_TOLERANCE <= result.price <= bounds.high + PRICE_TOLERANCE
    if entry.price_points is not None:
        assert result.price in entry.price_points
    elif old_price is not None:
        step_low, step_high = old_price * (1 - entry.max_step_pct), old_price * (1 + entry.max_step_pct)
        if step_low <= bounds.high and step_high >= bounds.low:        # the step is keepable
            assert step_low - 0.005 - PRICE_TOLERANCE <= result.price <= step_high + 0.005 + PRICE_TOLERANCE


def test_anticipating_a_competitor_who_follows_us_keeps_the_price_higher():
    model = demand_model(20.0, -3.0, sd=0.001)
    model.elasticity.mean[2] = 1.5                    # our sales rise strongly with the rival's price
    kink = model.competitor_kink                      # and the rival follows every move of ours, far up
    kink.clusters = [[0.0, 6.0, math.log(10.0), math.log(40.0)]]
    kink.regime, kink.free_log_level = "following", math.log(1000.0)
    rivals = {"a": CompetitorQuote(20.0, True, 0)}
    ctx = context(wide_entry(), model, competitors=rivals)
    myopic = learned_policy(ctx, PolicyParams(anticipate_competitors=False))
    anticipating = learned_policy(ctx, PolicyParams(anticipate_competitors=True))
    assert abs(myopic.price - 15.0) / 15.0 < 0.02     # the rival's price taken as given: p* = 15
    # if the rival follows, our effective elasticity is -3 + 1.5 = -1.5: p* = 10 x 1.5 / 0.5 = 30
    assert abs(anticipating.price - 30.0) / 30.0 < 0.02
    assert anticipating.inputs["competitor_follow_ratio"] == 1.0


def test_with_a_follower_the_policy_does_not_cut_below_the_kink_to_drag_the_competitor():
    model = demand_model(20.0, -3.0, sd=0.001)
    model.elasticity.mean[2] = 1.5                    # below the kink our elasticity is -3 + 1.5 = -1.5
    kink = model.competitor_kink                      # the rival sits at 20 and undercuts us by 4 % if lower
    kink.clusters = [[math.log(0.96), 6.0, math.log(14.0), math.log(22.0)]]
    kink.regime, kink.free_log_level = "free", math.log(20.0)
    rivals = {"a": CompetitorQuote(20.0, True, 0)}
    ctx = context(wide_entry(), model, competitors=rivals)
    myopic = learned_policy(ctx, PolicyParams(anticipate_competitors=False))
    anticipating = learned_policy(ctx, PolicyParams(anticipate_competitors=True))
    assert abs(myopic.price - 15.0) / 15.0 < 0.02     # the rival's 20 taken as given: p* = 15
    # below the kink 20 / 0.96 = 20.83 a cut is answered: the elasticity there is -1.5, whose optimum (30)
    # lies above the kink, so profit rises with the price all the way up to it; above it the rival stays
    # at 20 and the elasticity is -3 again (optimum 15, below): the kink is best
    assert abs(anticipating.price - 20.0 / 0.96) / (20.0 / 0.96) < 0.015
    assert abs(anticipating.inputs["competitor_follow_ratio"] - 0.96) < 1e-12
    assert abs(anticipating.inputs["competitor_level"] - 20.0) < 1e-12
    # with no follower in the data, anticipation changes nothing
    model.competitor_kink.clusters = []
    assert learned_policy(ctx, PolicyParams(anticipate_competitors=True)).price == myopic.price
