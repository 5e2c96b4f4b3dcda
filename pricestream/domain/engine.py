"""The per-SKU state machine: ``apply(state, event) -> outputs``.

One implementation for both shells: the Faust worker calls it for each consumed record, the offline
simulator calls it in process. It reads no clock (time is the event's ``event_time_ms``), draws no
unseeded randomness and numbers its decisions per SKU, so the same input sequence gives the same
outputs, ids included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pricestream.domain.guardrails import PRICE_TOLERANCE, apply_guardrails
from pricestream.domain.inventory import RESTOCK_POLICIES, Stock
from pricestream.domain.pricing import PRICING_POLICIES, CompetitorQuote, PolicyParams, PricingContext
from schemas.codec import Delisting, Rejection, deterministic_id
from schemas.records import (
    SCHEMA_VERSION, CatalogEntry, Click, CompetitorPrice, InventoryEvent, Order, PriceChange, RestockOrder,
)

RECENT_IDS_KEPT = 64      # per SKU: enough to absorb a producer's retries, small enough to stay cheap


@dataclass(frozen=True, slots=True)
class EngineConfig:
    pricing_policy: str = "competitor-match"
    restock_policy: str = "fixed-reorder"
    params: PolicyParams = PolicyParams()

    def __post_init__(self):
        if self.pricing_policy not in PRICING_POLICIES:
            raise ValueError(f"unknown pricing policy {self.pricing_policy!r}; known: {sorted(PRICING_POLICIES)}")
        if self.restock_policy not in RESTOCK_POLICIES:
            raise ValueError(f"unknown restock policy {self.restock_policy!r}; known: {sorted(RESTOCK_POLICIES)}")


@dataclass(slots=True)
class SkuState:
    """Everything the engine keeps about one SKU. Serialisable with ``to_dict``/``from_dict``."""
    sku: str
    catalog: CatalogEntry | None = None
    price: float | None = None
    last_price_change_ms: int | None = None
    reprice_pending: bool = False       # a change was held back by the minimum interval
    price_seq: int = 0
    restock_seq: int = 0
    competitors: dict[str, CompetitorQuote] = field(default_factory=dict)
    stock: Stock = field(default_factory=Stock)
    stock_known: bool = False           # on hand is unknown until the first count or receipt
    views: int = 0
    units_sold: int = 0
    revenue: float = 0.0
    last_event_time_ms: int = 0
    recent_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "catalog": None if self.catalog is None else _record_dict(self.catalog),
            "price": self.price, "last_price_change_ms": self.last_price_change_ms,
            "reprice_pending": self.reprice_pending, "price_seq": self.price_seq, "restock_seq": self.restock_seq,
            "competitors": {k: [q.price, q.in_stock, q.event_time_ms] for k, q in self.competitors.items()},
            "on_hand": self.stock.on_hand, "open_orders": dict(self.stock.open_orders),
            "stock_known": self.stock_known,
            "views": self.views, "units_sold": self.units_sold, "revenue": self.revenue,
            "last_event_time_ms": self.last_event_time_ms, "recent_ids": list(self.recent_ids),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SkuState":
        return cls(
            sku=d["sku"], catalog=None if d["catalog"] is None else CatalogEntry(**d["catalog"]),
            price=d["price"], last_price_change_ms=d["last_price_change_ms"],
            reprice_pending=d["reprice_pending"], price_seq=d["price_seq"], restock_seq=d["restock_seq"],
            competitors={k: CompetitorQuote(*v) for k, v in d["competitors"].items()},
            stock=Stock(on_hand=d["on_hand"], open_orders=dict(d["open_orders"])), stock_known=d["stock_known"],
            views=d["views"], units_sold=d["units_sold"], revenue=d["revenue"],
            last_event_time_ms=d["last_event_time_ms"], recent_ids=list(d["recent_ids"]),
        )


@dataclass(slots=True)
class Outcome:
    """What one event did: the state after it, the events to emit, or why it was rejected."""
    state: SkuState | None
    outputs: list[PriceChange | RestockOrder] = field(default_factory=list)
    rejection: Rejection | None = None
    duplicate: bool = False


class Engine:
    """Applies input records to per-SKU state under one configuration of policies."""

    def __init__(self, config: EngineConfig):
        self.config = config
        self._pricing = PRICING_POLICIES[config.pricing_policy]
        self._restock = RESTOCK_POLICIES[config.restock_policy]

    def apply(self, state: SkuState | None, record) -> Outcome:
        """Apply one valid input record. ``state`` is updated in place and returned in the outcome."""
        if isinstance(record, Delisting):
            return Outcome(state=None)
        if isinstance(record, CatalogEntry):
            state = state or SkuState(sku=record.sku)
        elif state is None or state.catalog is None:
            return Outcome(state, rejection=Rejection("unknown-sku", f"no catalog entry for SKU {record.sku!r}"))

        if isinstance(record, (Order, InventoryEvent)):
            # orders and stock movements change counts: a producer's retry must not count twice
            if record.event_id in state.recent_ids:
                return Outcome(state, duplicate=True)
            state.recent_ids.append(record.event_id)
            del state.recent_ids[:-RECENT_IDS_KEPT]

        now = record.event_time_ms
        state.last_event_time_ms = max(state.last_event_time_ms, now)
        outcome = Outcome(state)
        if isinstance(record, Click):
            state.views += 1
        elif isinstance(record, Order):
            state.stock.sell(record.quantity)
            state.units_sold += record.quantity
            state.revenue += record.quantity * record.unit_price
        elif isinstance(record, CompetitorPrice):
            state.competitors[record.competitor] = CompetitorQuote(record.price, record.in_stock, now)
            state.reprice_pending = True
        elif isinstance(record, InventoryEvent):
            _move_stock(state.stock, record)
            state.stock_known = True
        elif isinstance(record, CatalogEntry):
            state.catalog = record
            state.reprice_pending = True

        if state.reprice_pending:
            self._reprice(state, record, outcome)
        if isinstance(record, (Order, InventoryEvent, CatalogEntry)):
            self._restock_check(state, record, outcome)
        return outcome

    def _reprice(self, state: SkuState, trigger, outcome: Outcome) -> None:
        entry = state.catalog
        now = trigger.event_time_ms
        if (state.price is not None and state.last_price_change_ms is not None
                and now - state.last_price_change_ms < entry.min_change_interval_s * 1000):
            return      # held back: stays pending and is retried on the SKU's next event
        state.reprice_pending = False
        ctx = PricingContext(catalog=entry, current_price=state.price, competitors=state.competitors,
                             on_hand=state.stock.on_hand, now_ms=now)
        proposal = self._pricing(ctx, self.config.params)
        guarded = apply_guardrails(proposal.price, state.price, entry)
        if state.price is not None and abs(guarded.price - state.price) <= PRICE_TOLERANCE:
            return      # no change, no event
        reasons = ([] if state.price is not None else ["initial-listing"]) + [proposal.reason, *guarded.reasons]
        inputs = {**proposal.inputs, "unit_cost": entry.unit_cost, "proposed_price": proposal.price,
                  "on_hand": state.stock.on_hand}
        state.price_seq += 1
        outcome.outputs.append(PriceChange(
            schema_version=SCHEMA_VERSION,
            event_id=deterministic_id("price-changes", state.sku, state.price_seq),
            sku=state.sku, event_time_ms=now, policy=self.config.pricing_policy,
            old_price=state.price, new_price=guarded.price, reasons=reasons, inputs=inputs,
            trigger=trigger.TOPIC, trigger_event_id=trigger.event_id,
        ))
        state.price = guarded.price
        state.last_price_change_ms = now

    def _restock_check(self, state: SkuState, trigger, outcome: Outcome) -> None:
        if not state.stock_known:
            return      # ordering against an unknown shelf would guess; the inventory feed tells
        entry = state.catalog
        proposal = self._restock(entry, state.stock)
        if proposal is None:
            return
        state.restock_seq += 1
        restock_id = deterministic_id("restock", state.sku, state.restock_seq)
        on_order_before, position_before = state.stock.on_order, state.stock.position
        outcome.outputs.append(RestockOrder(
            schema_version=SCHEMA_VERSION,
            event_id=deterministic_id("restock-orders", state.sku, state.restock_seq),
            restock_id=restock_id, sku=state.sku, event_time_ms=trigger.event_time_ms,
            policy=self.config.restock_policy, quantity=proposal.quantity,
            reorder_point=proposal.reorder_point, order_up_to=proposal.order_up_to,
            safety_stock=proposal.safety_stock, inventory_position=position_before,
            on_hand=state.stock.on_hand, on_order=on_order_before,
            lead_time_days_mean=entry.lead_time_days_mean, service_level=entry.service_level,
            reasons=list(proposal.reasons),
        ))
        state.stock.open_orders[restock_id] = float(proposal.quantity)


def _move_stock(stock: Stock, event: InventoryEvent) -> None:
    if event.kind == "receipt":
        stock.receive(event.quantity, event.restock_id)
    elif event.kind == "count":
        stock.count(event.quantity)
    else:
        stock.adjust(event.quantity)


def _record_dict(record) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
