"""Valid example records with sensible defaults, for docs, doctests, tests and the demo.

>>> catalog_entry(sku="B2", list_price=30.0).list_price
30.0
"""

from __future__ import annotations

from schemas.records import (
    SCHEMA_VERSION, CalendarEntry, CatalogEntry, Click, CompetitorPrice, InventoryEvent, ModelPrior, Order,
)


def catalog_entry(sku: str = "SKU-1", **overrides) -> CatalogEntry:
    values = dict(
        schema_version=SCHEMA_VERSION, event_id=f"catalog-{sku}", sku=sku, event_time_ms=0,
        unit_cost=10.0, list_price=20.0, min_price=12.0, max_price=30.0,
        lead_time_days_mean=3.0, lead_time_days_std=1.0, service_level=0.95,
        order_cost=20.0, holding_cost_rate=0.25, restock_enabled=True,
        max_step_pct=0.2, reorder_point=None, order_up_to=None,
    )
    values.update(overrides)
    return CatalogEntry(**values)


def click(sku: str = "SKU-1", t: int = 0, event_id: str | None = None, segment: str | None = None) -> Click:
    return Click(SCHEMA_VERSION, event_id or f"click-{sku}-{t}", sku, t, None, segment)


def order(sku: str = "SKU-1", t: int = 0, quantity: int = 1, unit_price: float = 20.0,
          event_id: str | None = None, segment: str | None = None) -> Order:
    eid = event_id or f"order-{sku}-{t}"
    return Order(SCHEMA_VERSION, eid, eid, sku, t, quantity, unit_price, segment)


def competitor_price(sku: str = "SKU-1", t: int = 0, price: float = 18.0, competitor: str = "rival",
                     in_stock: bool = True, event_id: str | None = None) -> CompetitorPrice:
    return CompetitorPrice(SCHEMA_VERSION, event_id or f"comp-{sku}-{competitor}-{t}", sku, t,
                           competitor, price, in_stock)


def inventory(sku: str = "SKU-1", t: int = 0, kind: str = "receipt", quantity: int = 10,
              restock_id: str | None = None, event_id: str | None = None) -> InventoryEvent:
    return InventoryEvent(SCHEMA_VERSION, event_id or f"inv-{sku}-{kind}-{t}", sku, t, kind, quantity, restock_id)


def model_prior(sku: str = "SKU-1", t: int = 0, elasticity: float = -2.5, elasticity_sd: float = 0.3,
                **overrides) -> ModelPrior:
    values = dict(
        schema_version=SCHEMA_VERSION, event_id=f"prior-{sku}-{t}", sku=sku, event_time_ms=t,
        elasticity=elasticity, elasticity_sd=elasticity_sd, reference_price=20.0, units_per_period=2.0,
        period_ms=3_600_000, daily_profile=None, weekly_profile=None, fitted_periods=24 * 56,
        source="example",
    )
    values.update(overrides)
    return ModelPrior(**values)


def calendar_entry(calendar_id: str = "fair-2026", start_ms: int = 0, end_ms: int = 86_400_000, t: int = 0,
                   **overrides) -> CalendarEntry:
    values = dict(schema_version=SCHEMA_VERSION, event_id=f"calendar-{calendar_id}-{t}", calendar_id=calendar_id,
                  event_time_ms=t, kind="holiday", effect="fair", start_ms=start_ms, end_ms=end_ms, value=1.0,
                  expected_lift=None, skus=None)
    values.update(overrides)
    return CalendarEntry(**values)
