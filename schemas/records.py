"""The event contracts: one record type per topic.

These dataclasses are the single source of truth. ``schemas/<topic>.schema.json`` is generated from
them (``pricestream schemas write``; a test fails when the committed files differ), and the
validators in ``schemas.codec`` are compiled from the same generated schemas.

Conventions: every event has ``schema_version`` and ``event_id``; times are ``event_time_ms``
(milliseconds since the Unix epoch, UTC), the event's own time, never the time it was processed.
Prices are in the shop's currency, quantities in units.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1
MAX_QUANTITY = 100_000          # one order line or receipt above this is an absurd quantity
MAX_PRICE = 10_000_000.0
MAX_ID_LENGTH = 128


def spec(description: str, default: Any = dataclasses.MISSING, **constraints) -> Any:
    """A record field: its documentation and JSON Schema constraints live beside its type."""
    metadata = {"description": description, "constraints": constraints}
    if isinstance(default, (list, dict)):
        raise TypeError("mutable defaults are not allowed in records")
    return field(default=default, metadata=metadata)


_ID = {"minLength": 1, "maxLength": MAX_ID_LENGTH}
_SKU = {"minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]*$"}
_SEGMENT = {"minLength": 1, "maxLength": 32, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"}
_SEGMENT_DOC = ("Segment (a channel, region or member tier named in the SKU's catalogue entry) the event came "
                "from; null, or one the entry does not name: its first segment.")
_TIME = {"minimum": 0, "maximum": 32503680000000}    # up to year 3000
_PRICE = {"exclusiveMinimum": 0, "maximum": MAX_PRICE}
_PROFILE_ITEM = {"minimum": 0, "maximum": 24}     # a seasonal multiplier (a profile's mean is 1)
WEEK_MS = 7 * 86_400_000
_ARM = {"enum": [None, "champion", "challenger"]}
_ARM_DOC = ("The SKU's arm in a champion/challenger experiment (PRICESTREAM_EXPERIMENT_CHALLENGER); "
            "null when none runs.")


@dataclass(frozen=True, slots=True)
class Click:
    """A product-page view."""
    TOPIC = "clicks"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Unique id of the event, set by the producer.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("When the page was viewed, ms since the epoch (UTC).", **_TIME)
    session_id: str | None = spec("Visitor session, if known.", None, maxLength=MAX_ID_LENGTH)
    segment: str | None = spec(_SEGMENT_DOC, None, **_SEGMENT)


@dataclass(frozen=True, slots=True)
class Order:
    """One order line: units of one SKU bought at a price."""
    TOPIC = "orders"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Unique id of the event; a repeated id is the same order line.", **_ID)
    order_id: str = spec("The shop's order number.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("When the order was placed, ms since the epoch (UTC).", **_TIME)
    quantity: int = spec("Units ordered.", minimum=1, maximum=MAX_QUANTITY)
    unit_price: float = spec("Price paid per unit.", **_PRICE)
    segment: str | None = spec(_SEGMENT_DOC, None, **_SEGMENT)


@dataclass(frozen=True, slots=True)
class CompetitorPrice:
    """A competitor's observed price for the same product."""
    TOPIC = "competitor-prices"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Unique id of the observation.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("When the price was observed, ms since the epoch (UTC).", **_TIME)
    competitor: str = spec("Competitor name.", minLength=1, maxLength=64)
    price: float = spec("The competitor's price.", **_PRICE)
    in_stock: bool = spec("Whether the competitor had the product in stock.")


@dataclass(frozen=True, slots=True)
class InventoryEvent:
    """A change to stock on hand: a receipt, a physical count, or an adjustment."""
    TOPIC = "inventory"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Unique id of the event; a repeated id is the same stock movement.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("When the stock moved, ms since the epoch (UTC).", **_TIME)
    kind: Literal["receipt", "count", "adjustment"] = spec(
        "receipt adds units, count sets units on hand, adjustment adds a signed delta (damage, returns).")
    quantity: int = spec("Units: received (receipt), counted (count) or the signed delta (adjustment).",
                         minimum=-MAX_QUANTITY, maximum=MAX_QUANTITY)
    restock_id: str | None = spec("For a receipt: the restock order it fulfils, if any.", None, **_ID)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A SKU's economics and rules (compacted topic: the latest entry per SKU is the truth)."""
    TOPIC = "catalog"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Unique id of this revision of the entry.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("When this revision takes effect, ms since the epoch (UTC).", **_TIME)
    unit_cost: float = spec("What one unit costs the shop.", **_PRICE)
    list_price: float = spec("The shop's regular price.", **_PRICE)
    min_price: float = spec("Lowest price the engine may set.", **_PRICE)
    max_price: float = spec("Highest price the engine may set.", **_PRICE)
    lead_time_days_mean: float = spec("Mean supplier lead time in days.", minimum=0, maximum=365)
    lead_time_days_std: float = spec("Standard deviation of the lead time in days.", minimum=0, maximum=365)
    service_level: float = spec("Service-level target: the fill rate (share of demand served from stock), or with "
                                "service_kind 'cycle' the chance of no stock-out in a replenishment cycle.",
                                exclusiveMinimum=0, exclusiveMaximum=1)
    order_cost: float = spec("Fixed cost of placing one restock order.", minimum=0, maximum=MAX_PRICE)
    holding_cost_rate: float = spec("Annual holding cost as a fraction of unit cost.", minimum=0, maximum=10)
    restock_enabled: bool = spec("Whether the engine may order more of this SKU.")
    map_price: float | None = spec("Minimum advertised price (MAP) agreed with the brand.", None, **_PRICE)
    price_points: list[float] | None = spec(
        "If set, the only prices allowed (for example 19.99, 24.99).", None, minItems=1, maxItems=200,
        uniqueItems=True, items=_PRICE)
    min_margin: float = spec("Margin floor: price >= unit_cost x (1 + min_margin).", 0.0, minimum=-1, maximum=100)
    max_step_pct: float = spec("Largest change of one price move, as a fraction of the old price.", 0.2,
                               exclusiveMinimum=0, maximum=10)
    min_change_interval_s: int = spec("Least time between two price changes of this SKU, in seconds.", 0,
                                      minimum=0, maximum=31_536_000)
    reorder_point: int | None = spec(
        "Fixed rule: order when inventory position falls to this many units or below.", None,
        minimum=0, maximum=10 * MAX_QUANTITY)
    order_up_to: int | None = spec("Fixed rule: order enough to bring inventory position up to this.", None,
                                   minimum=1, maximum=10 * MAX_QUANTITY)
    max_above_competitor_pct: float | None = spec(
        "Competitor rule of the learned policy: never more than this fraction above the cheapest in-stock "
        "competitor (0.05: at most 5 % above); hard bounds still win.", None, minimum=0, maximum=10)
    sell_until_ms: int | None = spec(
        "End of the selling season, ms since the epoch: with restocking off, the learned policy paces the "
        "stock on hand to last until then.", None, **_TIME)
    service_kind: Literal["fill-rate", "cycle"] = spec(
        "What service_level measures for the learned restock policy: 'fill-rate' (type 2, the share of "
        "demand served from stock) or 'cycle' (type 1, the chance of no stock-out in a cycle).", "fill-rate")
    segments: list[str] | None = spec(
        "Segments priced apart (for example web, app, marketplace): each gets its own price and learned "
        "elasticity, pooled toward the SKU's; stock is shared. The first is the default segment. Null: one "
        "price for everyone (the SKU may not be segmented).", None, minItems=2, maxItems=8, uniqueItems=True,
        items=_SEGMENT)
    max_segment_spread_pct: float = spec(
        "Segmented SKUs: the highest segment price is at most this fraction above the lowest (0.2: 20 %).",
        0.2, minimum=0, maximum=10)
    competitors_watch_segment: str | None = spec(
        "Segmented SKUs: the segment whose price competitors see and answer (a price-comparison site reads "
        "the web shop's); the engine learns and anticipates a following competitor on that price alone. "
        "Null, or one the entry does not name: the lowest segment price.", None, **_SEGMENT)
    match_out_of_stock_competitor: bool = spec(
        "Competitor rule of the learned policy: while the cheapest competitor we know of is out of stock and "
        "we are not, price no lower than its last price (match it rather than undercut a shop that cannot "
        "sell); hard bounds still win.", False)


@dataclass(frozen=True, slots=True)
class ModelPrior:
    """A warm start for one SKU's demand model, fitted from historical orders (``pricestream bootstrap``).

    Compacted topic: the latest prior per SKU (by event time) is the truth. The engine uses it when it
    creates the SKU's demand model at its first tick: ``elasticity`` and ``elasticity_sd`` become the
    prior of the price elasticity, and the conversion is set so that the expected units of the first
    period match ``units_per_period`` (with the profiles). A prior that comes later only replaces the
    elasticity prior the model forgets toward; what was learned stays.
    """
    TOPIC = "model-priors"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Unique id of this prior.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("End of the history the prior was fitted on, ms since the epoch (UTC).", **_TIME)
    elasticity: float = spec("Prior mean of the price elasticity of demand.", minimum=-20, maximum=5)
    elasticity_sd: float = spec("Prior standard deviation of the elasticity.", exclusiveMinimum=0, maximum=10)
    reference_price: float = spec("The price the level refers to: the median price paid in the history.", **_PRICE)
    units_per_period: float = spec("Level: mean units sold per period over the last four weeks of the history.",
                                   minimum=0, maximum=10 * MAX_QUANTITY)
    period_ms: int = spec("Length of the periods the level and profiles are of, in ms.",
                          minimum=60_000, maximum=WEEK_MS)
    daily_profile: list[float] | None = spec(
        "Multiplicative hour-of-day profile (UTC hours 0-23), mean 1; null when the periods are a day or longer.",
        minItems=24, maxItems=24, items=_PROFILE_ITEM)
    weekly_profile: list[float] | None = spec(
        "Multiplicative day-of-week profile (Monday first, UTC), mean 1; null when not fitted.",
        minItems=7, maxItems=7, items=_PROFILE_ITEM)
    fitted_periods: int = spec("Number of periods of history the prior was fitted on.", minimum=0,
                               maximum=100_000_000)
    source: str = spec("Where the prior came from (for example 'bootstrap:orders-2025.csv').",
                       minLength=1, maxLength=256)


_CALENDAR_ID = {"minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]*$"}


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """A holiday, campaign or external signal over a time range, that moves every SKU's traffic (or the
    listed SKUs' only).

    Compacted topic keyed by ``calendar_id``; the latest entry per id (by event time) is the truth and a
    null value removes it. **Written to every partition** (``pricestream calendar publish`` does so), as
    ticks are: each partition's SKUs read their own copy, so the entry is in order with their events.
    The forecaster learns each ``effect``'s lift on page views per SKU, pooled across SKUs, and uses
    the known future ranges ahead of time (forecasts, reorder points). ``expected_lift`` is the shop's
    own guess (a marketing plan): the prior of an effect not yet seen, until data overrule it.
    """
    TOPIC = "calendar"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Unique id of this revision of the entry.", **_ID)
    calendar_id: str = spec("Id of the entry: the message key. One occurrence (for example "
                            "'black-friday-2026').", **_CALENDAR_ID)
    event_time_ms: int = spec("When this revision was published, ms since the epoch (UTC).", **_TIME)
    kind: Literal["holiday", "campaign", "signal"] = spec(
        "'holiday' and 'campaign' are on (1) over their range; a 'signal' (for example a weather index) has "
        "the level `value` over its range, and its effect is learned per unit of that level.")
    effect: str = spec("Name of the effect learned: occurrences with the same name share it (for example "
                       "'black-friday' every year).", **_CALENDAR_ID)
    start_ms: int = spec("Start of the range, ms since the epoch (UTC), inclusive.", **_TIME)
    end_ms: int = spec("End of the range, ms since the epoch (UTC), exclusive; after start_ms.", **_TIME)
    value: float = spec("The level over the range: 1 for holidays and campaigns, the signal's value for a "
                        "signal.", 1.0, minimum=-1000, maximum=1000)
    expected_lift: float | None = spec(
        "The shop's guess of the traffic multiplier while it runs (2.0: twice the usual page views): the "
        "prior of an effect with no data yet. Null: no guess (the pool's, else none).", None,
        exclusiveMinimum=0, maximum=100)
    skus: list[str] | None = spec("Only these SKUs (a campaign on part of the catalogue); null: every SKU.", None,
                                  minItems=1, maxItems=10_000, uniqueItems=True, items=_SKU)


@dataclass(frozen=True, slots=True)
class Tick:
    """The end of a decision period on one partition: decide now for every SKU on it.

    Events only update state; decisions happen at ticks. So the result of a period does not depend on
    the order in which the worker happened to consume the period's events from different topics,
    which makes a replay give the same decisions. The simulator sends ticks in simulated time; in a
    live shop the worker's own clock (``PRICESTREAM_CLOCK_INTERVAL_S``) sends them.
    """
    TOPIC = "clock"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Unique id of the tick.", **_ID)
    partition: int = spec("The partition this tick closes; it must be the partition it is written to.",
                          minimum=0, maximum=100_000)
    event_time_ms: int = spec("End of the period: decisions are made as of this time.", **_TIME)


@dataclass(frozen=True, slots=True)
class PriceChange:
    """The engine moved a SKU's price."""
    TOPIC = "price-changes"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Deterministic id: the same input sequence gives the same id.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("The tick's time: when the decision was made, in event time.", **_TIME)
    policy: str = spec("Pricing policy that decided.", minLength=1, maxLength=64)
    old_price: float | None = spec("Price before the change; null for a SKU's first price.", **_PRICE)
    new_price: float = spec("Price from now on.", **_PRICE)
    reasons: list[str] = spec("Machine-readable reason codes, the policy's first, then every guardrail that bound.",
                              minItems=1, items={"type": "string", "minLength": 1, "maxLength": 64})
    inputs: dict[str, float | None] = spec("The numbers behind the decision (unit_cost, competitor_price, bounds...).")
    trigger: str = spec("Topic of the latest input that asked for a new price (catalog, competitor-prices).",
                        minLength=1, maxLength=64)
    trigger_event_id: str = spec("event_id of that input.", **_ID)
    arm: str | None = spec(_ARM_DOC, None, **_ARM)
    segment: str | None = spec("The segment this price is for; null: an unsegmented SKU's one price.", None,
                               **_SEGMENT)


@dataclass(frozen=True, slots=True)
class RestockOrder:
    """The engine asks the supplier for more units of a SKU."""
    TOPIC = "restock-orders"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Deterministic id: the same input sequence gives the same id.", **_ID)
    restock_id: str = spec("Deterministic id of the order; a receipt quotes it to close the order.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("The tick's time: when the order was decided, in event time.", **_TIME)
    policy: str = spec("Restock policy that decided.", minLength=1, maxLength=64)
    quantity: int = spec("Units to order.", minimum=1, maximum=10 * MAX_QUANTITY)
    reorder_point: float = spec("Order when the inventory position is at or below this.", minimum=0)
    order_up_to: float | None = spec("Target inventory position after ordering, if the policy has one.", minimum=0)
    safety_stock: float | None = spec("Units held against demand and lead-time uncertainty, if computed.")
    inventory_position: float = spec("On hand + on order - backorders, before this order.")
    on_hand: float = spec("Units on hand (negative: backordered).")
    on_order: float = spec("Units ordered and not yet received, before this order.", minimum=0)
    lead_time_days_mean: float = spec("Expected lead time in days.", minimum=0)
    service_level: float = spec("Service-level target the quantities were set for.",
                                exclusiveMinimum=0, exclusiveMaximum=1)
    service_kind: Literal["fill-rate", "cycle"] = spec("What service_level measures (see the catalogue).")
    reasons: list[str] = spec("Machine-readable reason codes.", minItems=1,
                              items={"type": "string", "minLength": 1, "maxLength": 64})
    lead_time_demand_mean: float | None = spec(
        "Forecast demand over the lead time (plus one review period), if the policy forecasts it.", None, minimum=0)
    lead_time_demand_sd: float | None = spec("Standard deviation of that forecast.", None, minimum=0)
    arm: str | None = spec(_ARM_DOC, None, **_ARM)


@dataclass(frozen=True, slots=True)
class DemandForecast:
    """At each tick, per SKU: what the period just closed showed, and what the engine expects next."""
    TOPIC = "demand-forecasts"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Deterministic id: the same input sequence gives the same id.", **_ID)
    sku: str = spec("Stock-keeping unit: the message key.", **_SKU)
    event_time_ms: int = spec("The tick's time: the end of the period just closed.", **_TIME)
    observed_views: int = spec("Page views in the period just closed.", minimum=0)
    observed_units: int = spec("Units sold in the period just closed.", minimum=0)
    price: float | None = spec("Our price from this tick on (null before the first price).", **_PRICE)
    competitor_price: float | None = spec("Cheapest in-stock competitor price, if any.", **_PRICE)
    expected_views: float = spec("Forecast page views in the next period.", minimum=0)
    expected_units: float = spec("Forecast units sold in the next period at `price`.", minimum=0)
    units_std: float = spec("Standard deviation of that forecast.", minimum=0)
    elasticity: float = spec("Estimated price elasticity of demand (posterior mean).")
    elasticity_sd: float = spec("Its posterior standard deviation: wide when our price has barely moved.",
                                minimum=0)
    cross_elasticity: float = spec("Estimated elasticity to the cheapest competitor's price.")
    forecast_model: str = spec("Which forecaster the SKU currently uses for page views.", minLength=1, maxLength=64)
    arm: str | None = spec(_ARM_DOC, None, **_ARM)
    calendar_lift: float = spec("The calendar's multiplier in expected_views (holidays, campaigns, signals in the "
                                "next period, at their learned lifts); 1 when none applies.", 1.0,
                                exclusiveMinimum=0, maximum=1000)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input event the engine could not use, with the reason, so nothing is silently dropped."""
    TOPIC = "dead-letter"
    schema_version: Literal[1] = spec("Version of this contract.")
    event_id: str = spec("Deterministic id from the source topic, partition and offset.", **_ID)
    source_topic: str = spec("Topic the event was read from.", minLength=1, maxLength=255)
    partition: int = spec("Partition it was read from.", minimum=0)
    offset: int = spec("Offset it was read at.", minimum=0)
    key: str | None = spec("Message key, decoded as UTF-8 with replacement.", maxLength=1024)
    error_code: str = spec("Machine-readable reason (see README: dead letters).", minLength=1, maxLength=64)
    error: str = spec("Human-readable detail.", maxLength=2048)
    raw_payload: str = spec("The payload: text when valid UTF-8, else base64; cut to 4096 bytes.", maxLength=8192)
    raw_payload_encoding: Literal["utf-8", "base64"] = spec("How raw_payload is encoded.")
    raw_payload_bytes: int = spec("Size of the original payload in bytes.", minimum=0)
    raw_payload_truncated: bool = spec("Whether raw_payload was cut.")
    record_timestamp_ms: int | None = spec("Kafka timestamp of the bad record.")


INPUT_RECORDS = (Click, Order, CompetitorPrice, InventoryEvent, CatalogEntry, ModelPrior, CalendarEntry, Tick)
OUTPUT_RECORDS = (PriceChange, RestockOrder, DemandForecast, DeadLetter)
RECORDS_BY_TOPIC: dict[str, type] = {r.TOPIC: r for r in INPUT_RECORDS + OUTPUT_RECORDS}
InputRecord = Click | Order | CompetitorPrice | InventoryEvent | CatalogEntry | ModelPrior | CalendarEntry | Tick
