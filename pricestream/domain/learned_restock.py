"""Restock policy ``learned``: reorder point and order quantity from the learned demand.

Continuous review, checked at every tick: when the inventory position (on hand + on order) is at or
below the reorder point r, order up to r + Q. That is an (r, Q) policy with Q from the economic order
quantity, and it also covers a position that fell well below r at once (a big order), which a fixed
Q would leave short. Why (r, Q) and not a periodic order-up-to: ticks come every period, far more often
than orders, so review is as good as continuous, and Q trades the order cost against holding cost.

- **Lead-time demand** is the demand model's forecast of units over the lead time plus one period
  (the review delay), at the current price and competitor: its mean and variance come from the views
  forecast and the conversion (``DemandModel.expected_units``), plus the lead time's own variability
  (``lead_time_demand``: var += d^2 sd_L^2).
- **Reorder point** meets the catalogue's ``service_level`` as a cycle service level (the chance of
  no stock-out between an order and its arrival). Slow movers, with a few units per lead time, use a
  Poisson or negative binomial (variance above the mean) instead of the normal approximation.
- **Q** is the EOQ sqrt(2 K D / h) with the forecast's annual demand D, the order cost K and the
  holding cost h = unit cost x holding rate, at least one unit.

Orders already placed count in the position, so one need is never ordered twice.
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


def learned_restock_policy(entry: CatalogEntry, stock: Stock, demand: DemandModel | None = None,
                           price: float | None = None, competitor_price: float | None = None,
                           ) -> RestockProposal | None:
    if not entry.restock_enabled:
        return None
    if demand is None or demand.period_ms is None or price is None:
        # nothing learned yet: the catalogue's fixed rule, if it has one, keeps the shelf until then
        fixed = fixed_reorder_policy(entry, stock)
        return None if fixed is None else dataclasses.replace(fixed, reasons=(*fixed.reasons, "cold-start"))
    plan = reorder_plan(entry, demand, demand.typical_price() if demand.competitor_response.periods else price,
                        competitor_price)
    position = stock.position
    if position > plan.reorder_point:
        return None
    quantity = math.ceil(plan.reorder_point + plan.order_quantity - position)
    if quantity < 1:
        return None
    return RestockProposal(quantity=quantity, reorder_point=plan.reorder_point,
                           order_up_to=plan.reorder_point + plan.order_quantity, safety_stock=plan.safety_stock,
                           reasons=("position-at-or-below-reorder-point", f"lead-time-demand:{plan.distribution}"),
                           lead_time_demand_mean=plan.lead_time_demand_mean,
                           lead_time_demand_sd=plan.lead_time_demand_sd)


@dataclass(frozen=True, slots=True)
class ReorderPlan:
    reorder_point: float
    order_quantity: float
    safety_stock: float
    distribution: str                   # of the lead-time demand: normal, poisson, negative-binomial
    lead_time_demand_mean: float
    lead_time_demand_sd: float


def reorder_plan(entry: CatalogEntry, demand: DemandModel, price: float,
                 competitor_price: float | None) -> ReorderPlan:
    """Reorder point, order quantity and safety stock for the SKU as its demand is now forecast."""
    periods_per_day = DAY_MS / demand.period_ms
    horizon = max(1, math.ceil((entry.lead_time_days_mean + 1 / periods_per_day) * periods_per_day))
    mean, var = demand.expected_units(price, competitor_price, horizon)
    days = horizon / periods_per_day
    daily_mean, daily_var = mean / days, var / days
    lt_mean, lt_var = lead_time_demand(daily_mean, daily_var, days, entry.lead_time_days_std)
    discrete = lt_mean < DISCRETE_BELOW_UNITS
    point = safety_stock_and_reorder_point(lt_mean, lt_var, entry.service_level, discrete=discrete)
    holding = entry.unit_cost * entry.holding_cost_rate
    annual = daily_mean * 365.0
    if holding > 0 and annual > 0 and entry.order_cost > 0:
        quantity = max(1.0, math.ceil(eoq(entry.order_cost, holding, annual)[0]))
    else:
        quantity = max(1.0, math.ceil(daily_mean))     # no trade-off to make: a day's demand at a time
    return ReorderPlan(float(point.reorder_point), quantity, float(point.safety_stock), point.distribution,
                       lt_mean, math.sqrt(lt_var))
