"""Every price the engine emits in a simulation, checked against its SKU's catalogue rules.

The engine applies its guardrails last (``domain.guardrails``) and fits segment prices into their
spread (``domain.segments``); this is the outside check that they held, over whole runs: the market
hands it each ``price-changes`` event it applies, and the report counts the breaks per rule
(``rule_breaks``, all zero when every rule held). The rules, as a shop reads its catalogue entry:

- ``bounds``: inside min/max price, the margin floor over unit cost and MAP (``hard_bounds``);
- ``price-points``: one of the allowed price points, when the entry lists them;
- ``max-step``: at most ``max_step_pct`` from the price before (where that band meets the bounds: a
  price the catalogue itself moved outside them goes straight back in);
- ``min-interval``: at least ``min_change_interval_s`` after the SKU's previous change;
- ``segment-spread``: a segmented SKU's prices, once a tick's changes are all in, keep the highest at
  most ``max_segment_spread_pct`` above the lowest;
- ``segments-named``: a segmented SKU's changes each name a segment, an unsegmented one's none.
"""

from __future__ import annotations

from pricestream.domain.guardrails import PRICE_TOLERANCE, hard_bounds
from pricestream.domain.segments import spread_ok
from schemas.records import CatalogEntry

RULES = ("bounds", "price-points", "max-step", "min-interval", "segment-spread", "segments-named")
CENT = 0.005 + PRICE_TOLERANCE      # prices are whole cents: a clamped bound may round by half a cent
EXAMPLES_KEPT = 5                   # breaks kept whole for the report, the first ones


class RuleAudit:
    """The breaks of the catalogue rules by the price changes seen, per rule, and the first few."""

    def __init__(self, entries: dict[str, CatalogEntry]):
        self.entries = entries
        self.breaks = {rule: 0 for rule in RULES}
        self.examples: list[dict] = []
        self._last_change_ms: dict[str, int] = {}
        self._segment_prices: dict[str, dict[str, float]] = {}

    def price_change(self, event: dict) -> list[str]:
        """Check one change; returns the rules it broke (the spread of the tick before included)."""
        sku = event["sku"]
        entry = self.entries.get(sku)
        if entry is None:
            return []
        broken = []
        price, old, at = event["new_price"], event.get("old_price"), event["event_time_ms"]
        new_tick = sku in self._last_change_ms and at != self._last_change_ms[sku]
        if (event.get("segment") is not None) != bool(entry.segments):
            broken.append("segments-named")
        if entry.segments and new_tick and not self._spread_kept(sku, entry):
            broken.append("segment-spread")
        if entry.segments and event.get("segment") is not None:
            self._segment_prices.setdefault(sku, {})[event["segment"]] = price
        bounds = hard_bounds(entry)
        if not bounds.low - PRICE_TOLERANCE <= price <= bounds.high + PRICE_TOLERANCE:
            broken.append("bounds")
        if entry.price_points is not None:
            if not any(abs(price - p) <= PRICE_TOLERANCE for p in entry.price_points):
                broken.append("price-points")
        elif old is not None:
            low, high = old * (1 - entry.max_step_pct), old * (1 + entry.max_step_pct)
            if low <= bounds.high and high >= bounds.low and not low - CENT <= price <= high + CENT:
                broken.append("max-step")
        if new_tick and at - self._last_change_ms[sku] < entry.min_change_interval_s * 1000:
            broken.append("min-interval")
        self._last_change_ms[sku] = at
        self._count(broken, event)
        return broken

    def finish(self) -> None:
        """The spread of each segmented SKU's last prices (no later tick checks them)."""
        for sku, entry in self.entries.items():
            if entry.segments and not self._spread_kept(sku, entry):
                self._count(["segment-spread"], {"sku": sku, "segment_prices": self._segment_prices[sku]})

    def _spread_kept(self, sku: str, entry: CatalogEntry) -> bool:
        prices = self._segment_prices.get(sku)
        return not prices or spread_ok(list(prices.values()), entry.max_segment_spread_pct)

    def _count(self, broken: list[str], event: dict) -> None:
        for rule in broken:
            self.breaks[rule] += 1
        if broken and len(self.examples) < EXAMPLES_KEPT:
            self.examples.append({"rules": broken, "event": event})
