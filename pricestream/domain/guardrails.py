"""Price guardrails: the shop's rules, applied last to every price a policy proposes.

Hard bounds (min/max price, margin floor over unit cost, MAP) are never broken. The maximum step
per change is kept unless it conflicts with a hard bound or with the allowed price points (a price
that broke a hard rule to respect the step would be worse). Every rule that moved the price is named
in the reason codes. The minimum time between changes is applied by the caller, which knows time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from schemas.records import CatalogEntry


# Prices are compared at this precision: far below a cent, far above float rounding of a product.
PRICE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Bounds:
    low: float
    high: float
    low_rule: str      # the rule that sets the floor: min-price, margin-floor or map


@dataclass(frozen=True, slots=True)
class GuardedPrice:
    price: float
    reasons: tuple[str, ...]      # e.g. ("clamped:max-step",); empty when the proposal stood


def hard_bounds(entry: CatalogEntry) -> Bounds:
    """The interval every price must lie in.

    >>> from schemas.examples import catalog_entry
    >>> hard_bounds(catalog_entry(unit_cost=10.0, min_price=5.0, max_price=30.0, min_margin=0.2))
    Bounds(low=12.0, high=30.0, low_rule='margin-floor')
    """
    candidates = [(entry.min_price, "min-price"), (entry.unit_cost * (1 + entry.min_margin), "margin-floor")]
    if entry.map_price is not None:
        candidates.append((entry.map_price, "map"))
    low, rule = max(candidates, key=lambda c: c[0])
    return Bounds(low=low, high=entry.max_price, low_rule=rule)


def apply_guardrails(proposed: float, old_price: float | None, entry: CatalogEntry) -> GuardedPrice:
    """Move ``proposed`` into the allowed set, naming each rule that bound.

    >>> from schemas.examples import catalog_entry
    >>> entry = catalog_entry(unit_cost=10, min_price=11, max_price=30, max_step_pct=0.1)
    >>> apply_guardrails(40.0, 20.0, entry)
    GuardedPrice(price=22.0, reasons=('clamped:max-price', 'clamped:max-step'))
    >>> apply_guardrails(5.0, None, entry)
    GuardedPrice(price=11.0, reasons=('clamped:min-price',))
    """
    if not math.isfinite(proposed):
        raise ValueError(f"a policy proposed a non-finite price: {proposed}")
    bounds = hard_bounds(entry)
    reasons: list[str] = []
    price = proposed
    if price < bounds.low:
        price = bounds.low
        reasons.append(f"clamped:{bounds.low_rule}")
    elif price > bounds.high:
        price = bounds.high
        reasons.append("clamped:max-price")

    low, high = bounds.low, bounds.high
    if old_price is not None:
        step_low = old_price * (1 - entry.max_step_pct)
        step_high = old_price * (1 + entry.max_step_pct)
        if step_low <= bounds.high and step_high >= bounds.low:   # the step range meets the hard range
            low, high = max(bounds.low, step_low), min(bounds.high, step_high)
            if price < low or price > high:
                price = min(max(price, low), high)
                reasons.append("clamped:max-step")

    if entry.price_points is not None:
        snapped = _snap_to_price_point(price, low, high, bounds, entry.price_points)
        if snapped != price:
            reasons.append("snapped:price-point")
        return GuardedPrice(price=snapped, reasons=tuple(reasons))
    return GuardedPrice(price=_round_to_cents(price, low, high), reasons=tuple(reasons))


def _snap_to_price_point(price: float, low: float, high: float, bounds: Bounds, points: list[float]) -> float:
    inside_step = [p for p in points if low <= p <= high]
    allowed = inside_step or [p for p in points if bounds.low <= p <= bounds.high]
    # catalog validation guarantees at least one point inside the hard bounds
    return min(allowed, key=lambda p: (abs(p - price), p))


def _round_to_cents(price: float, low: float, high: float) -> float:
    """Whole cents, staying inside [low, high]; the exact bound when no whole cent fits."""
    cents = round(price * 100)
    if cents < low * 100 - 1e-9:
        cents = math.ceil(low * 100 - 1e-9)
    elif cents > high * 100 + 1e-9:
        cents = math.floor(high * 100 + 1e-9)
    rounded = cents / 100
    if low - PRICE_TOLERANCE <= rounded <= high + PRICE_TOLERANCE:
        return rounded
    return min(max(price, low), high)
