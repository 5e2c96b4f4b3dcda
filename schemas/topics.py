"""Every topic of the engine, declared once: its name, role, record type and configuration.

The Faust declarations (``streams.topics``), the topic creation (``pricestream topics create``),
the AsyncAPI document and docker-compose all follow this list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.records import (
    CalendarEntry, CatalogEntry, Click, CompetitorPrice, DeadLetter, DemandForecast, InventoryEvent, ModelPrior, Order, PriceChange,
    RestockOrder, Tick,
)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    record: type
    role: str                      # "input" or "output"
    description: str
    config: dict[str, str] = field(default_factory=dict)


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("clicks", Click, "input", "Product-page views."),
    TopicSpec("orders", Order, "input", "Order lines: quantity and unit price paid."),
    TopicSpec("competitor-prices", CompetitorPrice, "input", "Observed competitor prices and stock."),
    TopicSpec("inventory", InventoryEvent, "input", "Stock receipts, counts and adjustments."),
    TopicSpec("catalog", CatalogEntry, "input", "Per-SKU economics and rules; compacted, latest entry wins.",
              {"cleanup.policy": "compact"}),
    TopicSpec("model-priors", ModelPrior, "input",
              "Per-SKU demand priors fitted from order history (`pricestream bootstrap`); compacted, latest wins.",
              {"cleanup.policy": "compact"}),
    TopicSpec("calendar", CalendarEntry, "input",
              "Holidays, campaigns and external signals with their time ranges; compacted, latest per id wins; "
              "written to every partition.", {"cleanup.policy": "compact"}),
    TopicSpec("clock", Tick, "input", "Period ends, one tick per partition: the worker decides at each tick."),
    TopicSpec("price-changes", PriceChange, "output", "Price moves with reason codes and the numbers behind them."),
    TopicSpec("restock-orders", RestockOrder, "output", "Restock orders with reorder point, safety stock and position."),
    TopicSpec("demand-forecasts", DemandForecast, "output",
              "Per SKU and tick: the period's views and sales, the next period's forecast, the elasticity."),
    TopicSpec("dead-letter", DeadLetter, "output", "Input events the engine could not use, with the reason."),
)

INPUT_TOPICS = tuple(t.name for t in TOPICS if t.role == "input")
KEYED_BY_SKU = tuple(t.name for t in TOPICS if t.record not in (Tick, CalendarEntry))
# written to every partition, so each partition's SKUs see them in order with their own events
BROADCAST_TOPICS = (CalendarEntry.TOPIC,)
OUTPUT_TOPICS = tuple(t.name for t in TOPICS if t.role == "output")
TOPICS_BY_NAME = {t.name: t for t in TOPICS}


def topics_markdown_table() -> str:
    """The README's topic table."""
    lines = ["| topic | role | record | key | what it carries |", "| --- | --- | --- | --- | --- |"]
    for t in TOPICS:
        extra = " (compacted)" if t.config.get("cleanup.policy") == "compact" else ""
        key = "SKU" if t.name in KEYED_BY_SKU else "calendar id" if t.record is CalendarEntry else "partition number"
        lines.append(f"| `{t.name}` | {t.role}{extra} | `{t.record.__name__}` ([schema](schemas/{t.name}.schema.json)) "
                     f"| {key} | {t.description} |")
    return "\n".join(lines)
