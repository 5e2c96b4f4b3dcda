"""Restock policy ``learned``: reorder point and order quantity from the learned demand.

Continuous review, checked at every tick: when the inventory position (on hand + on order) is at or
below the reorder point r, order up to r + Q. That is an (r, Q) policy with Q from the economic order
quantity, and it also covers a position that fell well below r at once (a big order), which a fixed
Q would leave short. Why (r, Q) and not a periodic order-up-to: ticks come every period, far more often
than orders, so review is as good as continuous, and Q trades the order cost against holding cost.

- **Lead-time demand** is the demand model's forecast of units per day (the next day's, at the typical
  price and the current competitor: views forecast x conversion, ``DemandModel.expected_units``; where
  stock pacing raised the price, the typical price counts the one the stock would otherwise have
  allowed: ``PriceProposal.planning_price``) over
  the lead time plus one period (the review delay). Where that is 30 units or more (the normal
  approximation), the rate and its variance are the average of the last two days' such forecasts
  (``DemandModel.planned_daily_units``): a reorder point that jitters with each hour's forecast is
  crossed on its upward jitters, so orders went out early, on forecasts above the truth. Below that
  (slow movers, a count distribution) r moves in whole units and the tick's own forecast is kept: in
  development runs on ``slow-movers`` the average cost fill (more SKU-runs under target). The variance
  adds the lead time's own variability (``lead_time_demand``: var += d^2 sd_L^2) and the conversion's
  own uncertainty, which is common to the whole lead time (var += mean^2 x (e^v - 1), v the posterior
  variance of log conversion).
- **Reorder point** meets the catalogue's ``service_level`` as a fill rate by default (type 2: the
  smallest r whose expected shortage per cycle is at most (1 - target) x Q), or as a cycle service
  level (type 1: the chance of no stock-out between an order and its arrival) when the catalogue's
  ``service_kind`` is ``cycle``. A fill rate is what a shop means by "98 % of demand served", and
  with an EOQ of weeks of demand it needs far less safety stock than the same number read as a cycle
  service level. Slow movers, with a few units per lead time, use a Poisson or negative binomial
  (variance above the mean) instead of the normal approximation.
- **Known peaks.** The lead time's demand is multiplied by the calendar's mean lift over it (holidays,
  campaigns: ``calendar_lead_time_demand``), so a peak a lead time away raises r and the order goes out
  in time; the lead time's variability counts at the lift around the expected arrival, and the lift's
  uncertainty adds to the spread. Q stays the EOQ of the baseline demand. The
  order says so: reason ``calendar-peak`` (or ``calendar-dip``) when the lift is 2 % or more off 1.
- **Q** is the EOQ sqrt(2 K D / h) with the forecast's annual demand D, the order cost K and the
  holding cost h = unit cost x holding rate, at least one unit.

Orders already placed count in the position, so one need is never ordered twice.

**Warm-up.** Until its model has a day of the SKU's own periods behind it (a full daily cycle of
traffic) and a few units sold (``WARM_UP_UNITS``: the conversion's own evidence;
``DemandModel.warmed_up``), the policy does not trust it where the catalogue has a fixed rule: the
first hours' forecast leans on priors that can be many times off for a slow mover, and an order placed
on them is stock held for months. The fixed rule keeps the shelf meanwhile (reason ``cold-start``),
scaled to the demand of the price we sell at when that is below the list price the rule was set for
(``cold_start_rule``). Without a fixed rule the young model's plan is the best there is, and it orders
(also reason ``cold-start``): an empty shelf would never sell, so never learn.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from pricestream.domain.demand_model import DAY_MS, DemandModel
from pricestream.domain.inventory import RestockProposal, Stock, fixed_reorder_policy
from pricestream.domain.replenishment import eoq, lead_time_demand, safety_stock_and_reorder_point
from schemas.records import CatalogEntry

DISCRETE_BELOW_UNITS = 30.0      # lead-time demand below this mean: a count distribution, not a normal
CALENDAR_REASON_MIN = 0.02       # a calendar lift this far from 1 over the lead time is named in the reasons


def learned_restock_policy(entry: CatalogEntry, stock: Stock, demand: DemandModel | None = None,
                           price: float | None = None, competitor_price: float | None = None,
                           ) -> RestockProposal | None:
    if not entry.restock_enabled:
        return None
    learned = demand is not None and demand.period_ms is not None and price is not None
    has_fixed_rule = entry.reorder_point is not None and entry.order_up_to is not None
    if not learned or (has_fixed_rule and not demand.warmed_up):
        # not learned enough yet: the catalogue's fixed rule, if it has one, keeps the shelf until then,
        # scaled to the demand of the price we sell at
        rule = entry if not learned else cold_start_rule(entry, demand, demand.planning_price(price),
                                                         competitor_price)
        fixed = fixed_reorder_policy(rule, stock)
        return None if fixed is None else dataclasses.replace(fixed, reasons=(*fixed.reasons, "cold-start"))
    plan = reorder_plan(entry, demand, demand.planning_price(price), competitor_price)
    position = stock.position
    if position > plan.reorder_point:
        return None
    quantity = math.ceil(plan.reorder_point + plan.order_quantity - position)
    if quantity < 1:
        return None
    return RestockProposal(quantity=quantity, reorder_point=plan.reorder_point,
                           order_up_to=plan.reorder_point + plan.order_quantity, safety_stock=plan.safety_stock,
                           reasons=("position-at-or-below-reorder-point", f"lead-time-demand:{plan.distribution}",
                                    f"safety-stock:{plan.safety_set_by}",
                                    *(() if plan.calendar_lift is None else (plan.calendar_reason,)),
                                    *(() if demand.warmed_up else ("cold-start",))),
                           lead_time_demand_mean=plan.lead_time_demand_mean,
                           lead_time_demand_sd=plan.lead_time_demand_sd)


def cold_start_rule(entry: CatalogEntry, demand: DemandModel, price: float,
                    competitor_price: float | None) -> CatalogEntry:
    """The catalogue's fixed rule for a price below the list price: its reorder point and order size
    times the demand the price brings over the list price's (the conversion ratio, which depends on the
    elasticity alone: the prior's, pooled, until the SKU's own data move it). A shop sets its rule for
    the list price, and the learned price is often well below it: on ``slow-movers`` SLOW-02 sold far
    below its list price, at a demand its rule (reorder at 5) was not set for, and ran dry in its cold
    start. Above the list price the rule stays: a young estimate does not cut the shop's margin."""
    ratio = demand.elasticity.conversion(price, competitor_price) / demand.elasticity.conversion(
        entry.list_price, competitor_price)
    if not ratio > 1.0:
        return entry
    reorder_point = math.ceil(entry.reorder_point * ratio)
    return dataclasses.replace(entry, reorder_point=reorder_point,
                               order_up_to=reorder_point + math.ceil((entry.order_up_to - entry.reorder_point) * ratio))


@dataclass(frozen=True, slots=True)
class ReorderPlan:
    reorder_point: float
    order_quantity: float
    safety_stock: float
    distribution: str                   # of the lead-time demand: normal, poisson, negative-binomial
    lead_time_demand_mean: float
    lead_time_demand_sd: float
    safety_set_by: str = "service-target"   # or "lost-margin": which of the two asked for more stock
    calendar_lift: float | None = None      # the calendar's mean lift over the lead time, when it moves it

    @property
    def calendar_reason(self) -> str:
        return "calendar-peak" if self.calendar_lift > 1.0 else "calendar-dip"


def reorder_plan(entry: CatalogEntry, demand: DemandModel, price: float,
                 competitor_price: float | None) -> ReorderPlan:
    """Reorder point, order quantity and safety stock for the SKU as its demand is now forecast."""
    periods_per_day = DAY_MS / demand.period_ms
    # the rate is the next day's forecast (a whole daily cycle, so the hour of day does not bias it),
    # carried over the lead time: a young model's trend extrapolated over weeks of periods is noise,
    # and once swung a slow mover's reorder point from 5 units to 755 in one tick
    day = max(1, round(periods_per_day))
    # the baseline's day: the calendar's lifts are those of the whole lead time, applied below
    mean, var = demand.expected_units(price, competitor_price, day, with_calendar=False)
    daily_mean, daily_var = mean * periods_per_day / day, var * periods_per_day / day
    days = entry.lead_time_days_mean + 1 / periods_per_day           # the lead time and one review period
    if demand.planned_daily_units is not None and daily_mean * days >= DISCRETE_BELOW_UNITS:
        # the last days' average, not this tick's forecast (``DemandModel.planned_daily_units``); it is
        # the planning price's, so another price scales it by the conversion (the variance as buying
        # noise would be: in proportion)
        scale = demand.elasticity.conversion(price, competitor_price) / demand.elasticity.conversion(
            demand.planning_price(price), competitor_price)
        daily_mean, daily_var = (scale * x for x in demand.planned_daily_units)
    lift = None
    if demand.outlook is None:
        lt_mean, lt_var = lead_time_demand(daily_mean, daily_var, days, entry.lead_time_days_std)
    else:
        lt_mean, lt_var, lift = calendar_lead_time_demand(demand, daily_mean, daily_var, days,
                                                          entry.lead_time_days_std)
    # the conversion is not known exactly, and its error is the same on every day of the lead time: it
    # adds mean^2 x Var(conversion) / conversion^2 (lognormal), not a day's share per day. A slow mover
    # with a few dozen units seen is the case: 4 of 100 SKU-runs under target on slow-movers, 2 with it
    lt_var += lt_mean * lt_mean * math.expm1(demand.elasticity.log_conversion_var(price, competitor_price))
    quantity = order_quantity(entry, daily_mean)
    reorder_point, distribution, binding = reorder_point_for(entry, lt_mean, lt_var, quantity, price,
                                                              daily_mean * 365.0)
    return ReorderPlan(reorder_point, quantity, reorder_point - lt_mean, distribution,
                       lt_mean, math.sqrt(lt_var), binding,
                       calendar_lift=None if lift is None or abs(lift - 1.0) < CALENDAR_REASON_MIN else lift)


def calendar_lead_time_demand(demand: DemandModel, daily_mean: float, daily_var: float, days: float,
                              days_std: float) -> tuple[float, float, float]:
    """Mean and variance of the lead time's demand under the calendar's known lifts, and the mean lift.

    A peak within the lead time raises the demand the position must cover now, so the order goes out a
    lead time ahead of it: the mean is the baseline's times the mean lift over the lead time. A late
    delivery costs what sells while it is late, so the lead time's own variability counts at the lift
    around the expected arrival (a peak that starts as the order is due is where lateness hurts: at
    the mean lift, orders for a week-long season came a day or two late and ran short). The lifts'
    uncertainty adds to the spread. With no lift anywhere this is ``lead_time_demand``."""
    lift, lift_var = demand.window_lift(0.0, days)
    arrival_lift = demand.window_lift(max(days - days_std, 0.0), days + days_std)[0] if days_std > 0 else lift
    base = daily_mean * days
    var = days * daily_var * lift * lift + (daily_mean * arrival_lift * days_std) ** 2 + base * base * lift_var
    return base * lift, var, lift


def reorder_point_for(entry: CatalogEntry, lt_mean: float, lt_var: float, quantity: float, price: float,
                      annual_demand: float) -> tuple[float, str, str]:
    """r for a lead-time demand (mean, variance) and a Q: the higher of the service target's and the
    lost-margin one's, never below zero. Returns (r, distribution, which one set it). The simulator's
    informed replay calls this with the true demand, so the two differ only by what is known."""
    discrete = lt_mean < DISCRETE_BELOW_UNITS
    point = safety_stock_and_reorder_point(lt_mean, lt_var, entry.service_level, kind=entry.service_kind,
                                           order_quantity=quantity, discrete=discrete)
    binding = "service-target"
    economic = lost_margin_cycle_service(entry, price, quantity, annual_demand)
    if economic is not None:
        by_margin = safety_stock_and_reorder_point(lt_mean, lt_var, economic, discrete=discrete)
        if by_margin.reorder_point > point.reorder_point:
            point, binding = by_margin, "lost-margin"
    # a fill-rate r below zero (a cycle may lose more than the whole lead-time demand) could never be
    # reached by a position that cannot go negative under lost sales: order when the shelf is empty
    return max(float(point.reorder_point), 0.0), point.distribution, binding


def order_quantity(entry: CatalogEntry, daily_mean: float) -> float:
    """Q: the EOQ at the forecast's annual demand, whole units, at least one."""
    holding = entry.unit_cost * entry.holding_cost_rate
    annual = daily_mean * 365.0
    if holding > 0 and annual > 0 and entry.order_cost > 0:
        return max(1.0, math.ceil(eoq(entry.order_cost, holding, annual)[0]))
    return max(1.0, math.ceil(daily_mean))     # no trade-off to make: a day's demand at a time


def lost_margin_cycle_service(entry: CatalogEntry, price: float, quantity: float, annual_demand: float,
                              ) -> float | None:
    """The cycle service level at which one more unit of safety stock pays for itself, when a unit short
    is a sale lost at ``price``: P(stock-out in a cycle) = h Q / (p D), with h the yearly holding cost of a
    unit, p the margin lost (price - cost) and D / Q cycles a year (Hadley and Whitin's (r, Q) condition,
    as in Snyder and Shen ch. 5). The service target is a floor; when margins are wide against holding
    costs this asks for more. None when nothing is lost by a stock-out or nothing costs to hold."""
    margin = price - entry.unit_cost
    holding = entry.unit_cost * entry.holding_cost_rate
    if margin <= 0 or holding <= 0 or annual_demand <= 0:
        return None
    stockout_chance = holding * quantity / (margin * annual_demand)
    return min(max(1.0 - stockout_chance, 0.5), 0.999) if stockout_chance < 0.5 else None
