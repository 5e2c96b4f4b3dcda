"""Restock policy ``learned``: (r, Q) from the forecast, the service target and the costs."""

import dataclasses
import json
import math

from pricestream.domain.demand_model import DemandModel, PeriodCounts
from pricestream.domain.inventory import Stock
from pricestream.domain.learned_restock import learned_restock_policy, reorder_plan
from pricestream.domain.replenishment import normal_loss
from schemas.examples import catalog_entry

HOUR_MS = 3_600_000
THIN = 19.9             # a unit cost that leaves 0.10 of margin at 20: the service target alone sets r


def learned_model(views_per_hour: int, units_per_hour: float, periods: int = 24 * 14,
                  price: float = 20.0) -> DemandModel:
    model = DemandModel.new(20.0)
    for t in range(periods):
        units = int(units_per_hour * (t + 1)) - int(units_per_hour * t)    # the rate, spread evenly
        model.close_period(PeriodCounts(views=views_per_hour, units=units), price, None, HOUR_MS)
    return model


def test_a_fast_mover_gets_a_normal_reorder_point_around_its_lead_time_demand():
    entry = catalog_entry(lead_time_days_mean=4.0, lead_time_days_std=0.0, service_level=0.95, service_kind="cycle")
    plan = reorder_plan(entry, learned_model(200, 2.0), 20.0, None)
    # about 2 units an hour over 4 days and an hour: ~194 units
    assert plan.distribution == "normal"
    assert abs(plan.lead_time_demand_mean - 194) / 194 < 0.1
    assert plan.reorder_point > plan.lead_time_demand_mean and plan.safety_stock > 0
    # EOQ with K=20, h=10 x 0.25 a year, D = 48 x 365 a year
    assert abs(plan.order_quantity - math.ceil(math.sqrt(2 * 20 * 48 * 365 / 2.5))) <= 10


def test_a_fill_rate_target_lets_a_cycle_short_by_its_share_of_q():
    """Type 2: expected units short per cycle = (1 - target) x Q, so with Q of days of demand the
    reorder point can sit below the mean lead-time demand, and always below the cycle-service one."""
    model = learned_model(200, 2.0)
    # a thin margin (20.00 on a cost of 19.90): a lost sale costs little, so the target alone sets r
    entry = catalog_entry(lead_time_days_mean=4.0, lead_time_days_std=0.0, service_level=0.95, unit_cost=THIN)
    fill = reorder_plan(entry, model, 20.0, None)
    cycle = reorder_plan(dataclasses.replace(entry, service_kind="cycle"), model, 20.0, None)
    assert fill.safety_set_by == cycle.safety_set_by == "service-target"
    assert fill.reorder_point < cycle.reorder_point
    z = (fill.reorder_point - fill.lead_time_demand_mean) / fill.lead_time_demand_sd
    short = fill.lead_time_demand_sd * normal_loss(z)
    assert abs(short - 0.05 * fill.order_quantity) / (0.05 * fill.order_quantity) < 1e-6


def test_a_wide_margin_holds_more_safety_stock_than_the_fill_rate_target_asks():
    """A unit short is a lost sale: with 10 of margin against 2.50 a year of holding, the reorder point
    where one more unit pays for itself is above what a 95 % fill rate needs."""
    model = learned_model(200, 2.0)
    entry = catalog_entry(lead_time_days_mean=4.0, lead_time_days_std=0.0, service_level=0.95)
    wide = reorder_plan(entry, model, 20.0, None)
    thin = reorder_plan(dataclasses.replace(entry, unit_cost=THIN), model, 20.0, None)
    assert wide.safety_set_by == "lost-margin" and wide.reorder_point > thin.reorder_point
    # P(stock-out in a cycle) = h Q / (p D), D the yearly demand: the normal tail beyond r is that
    yearly = wide.lead_time_demand_mean / (4.0 + 1 / 24) * 365
    chance = 2.5 * wide.order_quantity / (10.0 * yearly)
    z = (wide.reorder_point - wide.lead_time_demand_mean) / wide.lead_time_demand_sd
    assert abs(0.5 * math.erfc(z / math.sqrt(2)) - chance) < 1e-6


def test_a_fill_rate_reorder_point_never_goes_below_an_empty_shelf():
    # Q of months of demand: the fill-rate r is negative, which a lost-sales position never reaches
    entry = catalog_entry(lead_time_days_mean=0.5, lead_time_days_std=0.0, service_level=0.9, order_cost=5000.0,
                          unit_cost=THIN)
    plan = reorder_plan(entry, learned_model(200, 2.0), 20.0, None)
    assert plan.reorder_point == 0.0 and plan.safety_stock == -plan.lead_time_demand_mean


def test_a_young_model_is_not_trusted_with_an_order():
    """Under a day of its own periods the forecast leans on priors: the fixed rule keeps the shelf."""
    fixed = catalog_entry(reorder_point=5, order_up_to=20)
    young = learned_model(200, 2.0, periods=23)
    proposal = learned_restock_policy(fixed, Stock(on_hand=2), young, 20.0, None)
    assert proposal.quantity == 18 and "cold-start" in proposal.reasons
    grown = learned_model(200, 2.0, periods=24)
    assert "cold-start" not in learned_restock_policy(fixed, Stock(on_hand=2), grown, 20.0, None).reasons
    # a slow mover's day: two days of periods but under WARM_UP_UNITS sold
    assert "cold-start" in learned_restock_policy(fixed, Stock(on_hand=2), learned_model(3, 0.02, 48), 20.0, None).reasons


def test_a_cold_start_fixed_rule_is_scaled_to_the_demand_of_a_price_below_the_list_price():
    """The shop's rule is set for the list price (20.00 here); selling at 15.00 brings (15/20)^e times
    the demand, and the rule's reorder point and order size grow by that ratio. Above the list price
    the rule stays as the shop wrote it."""
    fixed = catalog_entry(reorder_point=5, order_up_to=20)
    young = learned_model(3, 0.02, 48, price=15.0)
    assert not young.warmed_up and young.planning_price(15.0) == 15.0
    ratio = young.elasticity.conversion(15.0, None) / young.elasticity.conversion(20.0, None)
    assert ratio > 1.4                                  # the prior's elasticity, about -2
    below = learned_restock_policy(fixed, Stock(on_hand=6), young, 15.0, None)
    assert below is not None and "cold-start" in below.reasons
    assert below.reorder_point == math.ceil(5 * ratio)
    assert below.order_up_to == math.ceil(5 * ratio) + math.ceil(15 * ratio)
    assert below.quantity == below.order_up_to - 6
    dear = learned_model(3, 0.02, 48, price=25.0)
    assert learned_restock_policy(fixed, Stock(on_hand=6), dear, 25.0, None) is None
    above = learned_restock_policy(fixed, Stock(on_hand=5), dear, 25.0, None)
    assert (above.reorder_point, above.order_up_to, above.quantity) == (5.0, 20.0, 15)


def test_without_a_fixed_rule_a_young_model_still_orders_for_an_empty_shelf():
    # an empty shelf never sells, so it would never learn: the young plan is the best there is
    no_rule = catalog_entry(reorder_point=None, order_up_to=None)
    proposal = learned_restock_policy(no_rule, Stock(on_hand=0), learned_model(200, 2.0, periods=3), 20.0, None)
    assert proposal is not None and proposal.quantity >= 1 and "cold-start" in proposal.reasons


def test_a_slow_mover_gets_a_count_distribution_and_whole_units():
    entry = catalog_entry(lead_time_days_mean=5.0, lead_time_days_std=1.0, service_level=0.95, service_kind="cycle")
    plan = reorder_plan(entry, learned_model(3, 0.02), 20.0, None)
    assert plan.distribution in ("poisson", "negative-binomial")
    assert plan.reorder_point == int(plan.reorder_point) and plan.reorder_point >= 1


def test_a_higher_service_level_holds_more_safety_stock():
    model = learned_model(50, 0.5)
    low = reorder_plan(catalog_entry(service_level=0.80, unit_cost=THIN), model, 20.0, None)
    high = reorder_plan(catalog_entry(service_level=0.99, unit_cost=THIN), model, 20.0, None)
    assert high.reorder_point > low.reorder_point


def test_one_need_is_ordered_once_what_is_on_order_counts():
    entry = catalog_entry(lead_time_days_mean=3.0, lead_time_days_std=0.5)
    model = learned_model(50, 0.5)
    r = reorder_plan(entry, model, 20.0, None).reorder_point
    assert learned_restock_policy(entry, Stock(on_hand=r + 1), model, 20.0, None) is None
    proposal = learned_restock_policy(entry, Stock(on_hand=r - 3), model, 20.0, None)
    assert proposal is not None and proposal.reorder_point == r
    assert proposal.quantity == math.ceil(proposal.order_up_to - (r - 3))
    stock = Stock(on_hand=r - 3)
    stock.place("r1", proposal.quantity, 0)
    assert learned_restock_policy(entry, stock, model, 20.0, None) is None


def test_no_order_when_restocking_is_off_and_the_fixed_rule_stands_in_before_anything_is_learned():
    model = learned_model(50, 0.5)
    assert learned_restock_policy(catalog_entry(restock_enabled=False), Stock(on_hand=0), model, 20.0, None) is None
    fixed = catalog_entry(reorder_point=5, order_up_to=20)
    proposal = learned_restock_policy(fixed, Stock(on_hand=2), DemandModel.new(20.0), None, None)
    assert proposal.quantity == 18 and "cold-start" in proposal.reasons


def test_stock_is_planned_for_the_typical_price_not_one_periods_exploratory_price():
    entry = catalog_entry(lead_time_days_mean=3.0, lead_time_days_std=0.5)
    model = learned_model(50, 0.5)                      # learned at 20.0 throughout
    model.elasticity.mean[1] = -3.0
    at_typical = learned_restock_policy(entry, Stock(on_hand=0), model, 20.0, None)
    explored_low = learned_restock_policy(entry, Stock(on_hand=0), model, 14.0, None)
    assert explored_low.reorder_point == at_typical.reorder_point
    assert reorder_plan(entry, model, 14.0, None).reorder_point > at_typical.reorder_point


def test_stock_is_planned_for_the_price_the_stock_would_have_allowed_when_pacing_raised_the_price():
    """Charged 20 because stock ran short, where 15 would have been charged with stock enough: the
    lead time's demand is planned at 15, so the order brings the stock that ends the shortage."""
    entry = catalog_entry(lead_time_days_mean=3.0, lead_time_days_std=0.5)
    paced, charged = DemandModel.new(20.0), DemandModel.new(20.0)
    for t in range(24 * 14):
        counts = PeriodCounts(views=100, units=int(2.0 * (t + 1)) - int(2.0 * t))
        paced.close_period(counts, 20.0, None, HOUR_MS, planning_price=15.0)
        charged.close_period(counts, 20.0, None, HOUR_MS)
    assert abs(paced.typical_price() - 15.0) < 1e-9 and abs(charged.typical_price() - 20.0) < 1e-9
    assert paced.elasticity.mean == charged.elasticity.mean          # demand is learned at the price charged
    planned = learned_restock_policy(entry, Stock(on_hand=0), paced, 20.0, None)
    assert planned.reorder_point == reorder_plan(entry, paced, 15.0, None).reorder_point
    assert planned.reorder_point > learned_restock_policy(entry, Stock(on_hand=0), charged, 20.0, None).reorder_point


def test_a_segmented_sku_plans_its_stock_at_the_blend_of_its_prices_not_at_the_watched_segments():
    """A segmented SKU's pooled model learns its conversion at the blend of the segments' prices (15.00
    here), while its competitor models learn against the price the competitors watch (20.00). Stock
    serves every segment, so it is planned at the blend: planned at the watched price, the lead time's
    demand came out (20/15)^-e times too low, and the SKU's orders too small."""
    entry = catalog_entry(lead_time_days_mean=3.0, lead_time_days_std=0.5)
    model = DemandModel.new(20.0)
    for t in range(24 * 14):
        units = int(2.0 * (t + 1)) - int(2.0 * t)
        model.close_period(PeriodCounts(views=100, units=units), 15.0, None, HOUR_MS, watched_price=20.0)
    assert abs(model.typical_price() - 15.0) < 1e-9
    assert abs(math.exp(model.competitor_response.smoothed_log_price) * 20.0 - 20.0) < 1e-9
    planned = learned_restock_policy(entry, Stock(on_hand=0), model, 15.0, None)
    assert planned.reorder_point == reorder_plan(entry, model, 15.0, None).reorder_point
    # about 2 units an hour over 3 days and an hour: the rate sold at the blend
    assert abs(planned.lead_time_demand_mean - 2.0 * 73) / (2.0 * 73) < 0.1
    assert planned.reorder_point > reorder_plan(entry, model, 20.0, None).reorder_point
    # restored from state: kept; from state written before it was, the competitor model's stands in
    state = json.loads(json.dumps(model.to_state()))
    assert abs(DemandModel.from_state(state).typical_price() - 15.0) < 1e-9
    del state["smoothed_log_price"]
    assert abs(DemandModel.from_state(state).typical_price() - 20.0) < 1e-9
    fresh = DemandModel.new(20.0).to_state()
    del fresh["smoothed_log_price"]
    assert DemandModel.from_state(fresh).planning_price(17.0) == 17.0       # no price charged yet


def test_an_uncertain_conversion_widens_the_lead_time_demand_as_one_error_over_the_whole_lead_time():
    """A slow mover with a handful of units seen does not know its conversion well, and that error is the
    same every day of the lead time: the spread grows by about mean x sd(conversion), not by a day's
    share of it per day. The same model with a sharp conversion posterior holds less safety stock."""
    entry = catalog_entry(lead_time_days_mean=7.0, lead_time_days_std=0.0, reorder_point=None, order_up_to=None)
    model = learned_model(3, 0.05, periods=24 * 10)             # about 12 units in 10 days
    uncertain = reorder_plan(entry, model, 20.0, None)
    model.elasticity.precision = [[p * 1e6 for p in row] for row in model.elasticity.precision]
    sharp = reorder_plan(entry, model, 20.0, None)
    assert uncertain.lead_time_demand_mean == sharp.lead_time_demand_mean
    assert uncertain.lead_time_demand_sd > sharp.lead_time_demand_sd * 1.1
    assert uncertain.reorder_point > sharp.reorder_point


def test_stock_is_planned_on_the_last_days_average_so_a_few_busy_hours_barely_move_it():
    """The hourly forecast follows a burst of traffic at once; a reorder point that followed it would be
    crossed on such jitters, and the order placed early and large. The planned rate moves a little."""
    entry = catalog_entry(lead_time_days_mean=4.0, lead_time_days_std=0.0)
    model = learned_model(200, 2.0)
    before = reorder_plan(entry, model, 20.0, None)
    raw_before = model.expected_units(20.0, None, 24, with_calendar=False)[0]
    for _ in range(3):                  # three hours of triple traffic
        model.close_period(PeriodCounts(views=600, units=6), 20.0, None, HOUR_MS)
    raw_after = model.expected_units(20.0, None, 24, with_calendar=False)[0]
    after = reorder_plan(entry, model, 20.0, None)
    raw_jump = raw_after / raw_before - 1
    assert raw_jump > 1.0                                       # the tick's own forecast more than doubled
    planned_jump = after.lead_time_demand_mean / before.lead_time_demand_mean - 1
    assert 0 < planned_jump < raw_jump / 10                     # the average follows, by a little
    assert after.lead_time_demand_sd < before.lead_time_demand_sd * 1.5     # the spread as well
    # and state travels: a restarted worker plans on the same average
    restored = DemandModel.from_state(json.loads(json.dumps(model.to_state())))
    assert restored.planned_daily_units == model.planned_daily_units
    assert reorder_plan(entry, restored, 20.0, None) == after


def test_a_slow_mover_plans_on_the_ticks_own_forecast():
    """Under 30 units a lead time (a count distribution) r moves in whole units: no average."""
    entry = catalog_entry(lead_time_days_mean=5.0, lead_time_days_std=1.0)
    model = learned_model(3, 0.02)
    model.planned_daily_units = (100.0, 100.0)          # an average far from the forecast is not used
    plan = reorder_plan(entry, model, 20.0, None)
    raw = model.expected_units(20.0, None, 24, with_calendar=False)[0]
    assert plan.distribution != "normal"
    assert abs(plan.lead_time_demand_mean - raw * (5.0 + 1 / 24)) < 1e-9


def test_the_planned_rate_starts_at_warm_up():
    young = learned_model(200, 2.0, periods=23)
    assert not young.warmed_up and young.planned_daily_units is None
    grown = learned_model(200, 2.0, periods=24)
    assert grown.warmed_up and grown.planned_daily_units is not None
