"""Stock bookkeeping and restock policies.

Inventory position = on hand + on order (on hand below zero is backordered demand). Orders we have
placed count as on order until a receipt quoting their ``restock_id`` arrives, so one need is never
ordered twice: after an order the position is back above the reorder point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pricestream.domain.replenishment import expected_remaining_lead_time
from schemas.records import CatalogEntry


@dataclass(slots=True)
class Stock:
    on_hand: float = 0.0
    open_orders: dict[str, float] = field(default_factory=dict)   # restock_id -> units still to come
    ordered_at: dict[str, int] = field(default_factory=dict)      # restock_id -> when we ordered (event time)

    @property
    def on_order(self) -> float:
        return float(sum(self.open_orders.values()))

    @property
    def position(self) -> float:
        return self.on_hand + self.on_order

    def place(self, restock_id: str, units: float, now_ms: int) -> None:
        self.open_orders[restock_id] = float(units)
        self.ordered_at[restock_id] = now_ms

    def next_arrival_ms(self, lead_time_ms: float, lead_time_sd_ms: float = 0.0, now_ms: int | None = None,
                        ) -> float | None:
        """When the earliest open order is expected; None with none open. Given ``now_ms`` and a spread of
        the lead time, an order not yet come is expected ``expected_remaining_lead_time`` from now: past
        its mean it is late, not lost, and the stock on hand must last until it lands (else it is due
        at ordered + mean lead time).

        >>> s = Stock(); s.place("r1", 5, 1_000); s.place("r2", 5, 3_000)
        >>> s.next_arrival_ms(500)
        1500
        >>> s.next_arrival_ms(500, 100, now_ms=1_500) > 1_500
        True
        """
        def due(ordered: int) -> float:
            if now_ms is None or lead_time_sd_ms <= 0:
                return ordered + lead_time_ms
            return now_ms + expected_remaining_lead_time(lead_time_ms, lead_time_sd_ms, now_ms - ordered)

        return min((due(t) for r, t in self.ordered_at.items() if r in self.open_orders), default=None)

    def first_expected_order(self, lead_time_ms: float, lead_time_sd_ms: float, now_ms: int) -> str | None:
        """The open order expected first (the one ``next_arrival_ms`` times), None with none open."""
        def remaining(r: str) -> float:
            return expected_remaining_lead_time(lead_time_ms, lead_time_sd_ms, now_ms - self.ordered_at[r])

        return min((r for r in self.ordered_at if r in self.open_orders), key=remaining, default=None)

    def sell(self, units: float) -> None:
        self.on_hand -= units

    def receive(self, units: float, restock_id: str | None) -> None:
        """Units arrive; a receipt quoting one of our orders closes as much of it as arrived.

        >>> s = Stock(on_hand=2, open_orders={"r1": 10})
        >>> s.receive(6, "r1"); (s.on_hand, s.on_order)
        (8, 4.0)
        >>> s.receive(5, "r1"); (s.on_hand, s.on_order)
        (13, 0.0)
        """
        self.on_hand += units
        if restock_id is not None and restock_id in self.open_orders:
            remaining = self.open_orders[restock_id] - units
            if remaining > 0:
                self.open_orders[restock_id] = remaining
            else:
                del self.open_orders[restock_id]
                self.ordered_at.pop(restock_id, None)

    def count(self, units: float) -> None:
        self.on_hand = units

    def adjust(self, delta: float) -> None:
        self.on_hand += delta


@dataclass(frozen=True, slots=True)
class RestockProposal:
    quantity: int
    reorder_point: float
    order_up_to: float | None
    safety_stock: float | None
    reasons: tuple[str, ...]
    lead_time_demand_mean: float | None = None
    lead_time_demand_sd: float | None = None


def fixed_reorder_policy(entry: CatalogEntry, stock: Stock, *_learned) -> RestockProposal | None:
    """The shop's fixed (s, S) rule from the catalogue: at or below s, order up to S.

    >>> from schemas.examples import catalog_entry
    >>> entry = catalog_entry(reorder_point=5, order_up_to=20)
    >>> fixed_reorder_policy(entry, Stock(on_hand=4)).quantity
    16
    >>> fixed_reorder_policy(entry, Stock(on_hand=4, open_orders={"r": 16})) is None
    True
    """
    if not entry.restock_enabled or entry.reorder_point is None or entry.order_up_to is None:
        return None
    position = stock.position
    if position > entry.reorder_point:
        return None
    quantity = int(entry.order_up_to - position)
    if quantity < 1:
        return None
    return RestockProposal(quantity=quantity, reorder_point=float(entry.reorder_point),
                           order_up_to=float(entry.order_up_to), safety_stock=None,
                           reasons=("position-at-or-below-reorder-point", "fixed-rule"))


BASELINE_RESTOCK_POLICIES = {"fixed-reorder": fixed_reorder_policy}
