"""Pricing policies: each proposes a price and says why; guardrails are applied after, by the engine.

The baselines stay in the product as the bar the learned policies must beat:

- ``static``: the catalogue's list price.
- ``cost-plus``: unit cost times (1 + markup).
- ``competitor-match``: the cheapest in-stock competitor, less ``undercut``; the list price when
  no competitor has stock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from schemas.records import CatalogEntry

if TYPE_CHECKING:
    from pricestream.domain.demand_model import DemandModel


@dataclass(frozen=True, slots=True)
class CompetitorQuote:
    price: float
    in_stock: bool
    event_time_ms: int


@dataclass(frozen=True, slots=True)
class PricingContext:
    """What a policy may look at when it proposes a price for one SKU."""
    catalog: CatalogEntry
    current_price: float | None
    competitors: Mapping[str, CompetitorQuote]
    on_hand: float
    now_ms: int
    # what the learned policy also reads (the baselines ignore it)
    sku: str = ""
    demand: "DemandModel | None" = None
    period_ms: int | None = None                 # length of the periods the demand is learned over
    next_arrival_ms: float | None = None         # expected arrival of the earliest open restock order
    open_order_age_ms: float | None = None       # how long ago that order was placed
    arriving_units: float | None = None          # and its units

    def cheapest_in_stock_competitor(self) -> float | None:
        prices = [q.price for q in self.competitors.values() if q.in_stock]
        return min(prices) if prices else None


@dataclass(frozen=True, slots=True)
class PriceProposal:
    price: float
    reason: str                               # the policy's reason code
    inputs: Mapping[str, float | None]        # the numbers behind it, for the audit trail
    more_reasons: tuple[str, ...] = ()        # further codes, e.g. stock-pacing, competitor-cap
    # the price proposed had the stock been enough, when stock pacing raised it: see ``planning_price``
    unpaced_price: float | None = None

    def planning_price(self, charged: float) -> float:
        """The price to plan stock for once ``charged`` (this proposal, guarded) is set: the lower of it
        and the unpaced price. Pacing raises the price because stock is short; stock planned for the
        demand at the raised price orders too little and keeps the shortage going. A development trace
        of ``segmented`` SEG-08 (seed 20240606) was paced in most of its first four weeks and planned 123
        units of lead-time demand where the run told the truth planned 218.

        >>> PriceProposal(12.0, "demand-optimal", {}, ("stock-pacing",), unpaced_price=10.0).planning_price(11.5)
        10.0
        >>> PriceProposal(12.0, "demand-optimal", {}).planning_price(11.5)
        11.5
        """
        return charged if self.unpaced_price is None else min(charged, self.unpaced_price)


@dataclass(frozen=True, slots=True)
class PolicyParams:
    markup: float = 0.35
    undercut: float = 0.01
    seed: int = 0              # of the learned policy's exploration draws: same input and seed, same prices
    anticipate_competitors: bool = True    # learned: price for where a competitor who follows us settles


PricingPolicy = Callable[[PricingContext, PolicyParams], PriceProposal]


def static_policy(ctx: PricingContext, params: PolicyParams) -> PriceProposal:
    """
    >>> from schemas.examples import catalog_entry
    >>> static_policy(PricingContext(catalog_entry(list_price=20.0), None, {}, 0, 0), PolicyParams()).price
    20.0
    """
    return PriceProposal(ctx.catalog.list_price, "list-price", {"list_price": ctx.catalog.list_price})


def cost_plus_policy(ctx: PricingContext, params: PolicyParams) -> PriceProposal:
    """
    >>> from schemas.examples import catalog_entry
    >>> cost_plus_policy(PricingContext(catalog_entry(unit_cost=10.0), None, {}, 0, 0), PolicyParams(markup=0.5)).price
    15.0
    """
    cost = ctx.catalog.unit_cost
    return PriceProposal(cost * (1 + params.markup), "cost-plus", {"unit_cost": cost, "markup": params.markup})


def competitor_match_policy(ctx: PricingContext, params: PolicyParams) -> PriceProposal:
    """
    >>> from schemas.examples import catalog_entry
    >>> quotes = {"a": CompetitorQuote(18.0, True, 0), "b": CompetitorQuote(15.0, False, 0)}
    >>> competitor_match_policy(PricingContext(catalog_entry(), None, quotes, 0, 0), PolicyParams(undercut=0.0))
    PriceProposal(price=18.0, reason='competitor-match', inputs={'competitor_price': 18.0, 'undercut': 0.0}, more_reasons=(), unpaced_price=None)
    """
    cheapest = ctx.cheapest_in_stock_competitor()
    if cheapest is None:
        return PriceProposal(ctx.catalog.list_price, "no-competitor-in-stock",
                             {"competitor_price": None, "list_price": ctx.catalog.list_price})
    reason = "competitor-undercut" if params.undercut > 0 else "competitor-match"
    return PriceProposal(cheapest * (1 - params.undercut), reason,
                         {"competitor_price": cheapest, "undercut": params.undercut})


BASELINE_POLICIES: dict[str, PricingPolicy] = {
    "static": static_policy,
    "cost-plus": cost_plus_policy,
    "competitor-match": competitor_match_policy,
}
