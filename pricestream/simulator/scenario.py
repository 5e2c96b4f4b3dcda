"""Scenario files: a market whose truth we know, so every policy can be scored against it.

A scenario is JSON (``schemas/scenario.schema.json``; built-in ones in ``scenarios/``): horizon and
period length, a seed, and per SKU the true demand process and the shop's economics. Field meanings
are documented in the schema; the dataclasses below mirror it one to one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from schemas.records import SCHEMA_VERSION, CatalogEntry

BUILT_IN_DIR = Path(__file__).resolve().parent / "scenarios"
DAY_MS = 86_400_000


@dataclass(frozen=True)
class ViewsSpec:
    """Page views per period: Poisson with a mean that has a level, daily and weekly seasonality and a trend."""
    rate_per_period: float                  # mean views per period at the seasonal average
    daily_amplitude: float = 0.0            # 0..1: relative swing over the day (peak at peak_hour)
    peak_hour: float = 20.0
    weekly_amplitude: float = 0.0           # 0..1: relative swing over the week (peak on peak_weekday)
    peak_weekday: int = 5                   # 0 = Monday
    trend_per_day: float = 0.0              # relative growth per day (0.001 = +0.1 % a day)
    deterministic: bool = False             # exactly round(rate) views per period (ferreira2018: one customer)
    calendar_lifts: tuple["EffectLift", ...] = ()   # this SKU's true lift per calendar effect (else the entry's)


@dataclass(frozen=True)
class EffectLift:
    """A SKU's own true lift of one calendar effect (SKUs differ around the entry's ``lift``)."""
    effect: str
    lift: float


@dataclass(frozen=True)
class PurchaseSpec:
    """Probability that one view buys one unit, as a function of our price p and the competitor's c."""
    form: Literal["constant-elasticity", "linear", "table"]
    # constant-elasticity: q = base_probability * (p / reference_price) ** elasticity
    #                          * (c / reference_price) ** competitor_elasticity   (c absent: factor 1)
    reference_price: float = 1.0
    base_probability: float = 0.0
    elasticity: float = -2.0
    competitor_elasticity: float = 0.0
    # linear: q = intercept - slope * p (+ competitor_slope * (c - reference_price)), clipped to [0, 1]
    intercept: float = 0.0
    slope: float = 0.0
    competitor_slope: float = 0.0
    # table: q = probabilities[i] at prices[i]; only those prices are offered (discrete instance)
    prices: tuple[float, ...] = ()
    probabilities: tuple[float, ...] = ()


@dataclass(frozen=True)
class SegmentSpec:
    """One segment of a segmented SKU (a channel, region or member tier): its share of the SKU's views and
    how its visitors buy. The competitors and the stock are the SKU's."""
    name: str
    view_share: float                       # of the SKU's views; the segments' shares add up to 1
    purchase: PurchaseSpec


@dataclass(frozen=True)
class CompetitorSpec:
    name: str
    initial_price: float
    process: Literal["fixed", "random-walk", "reactive"] = "random-walk"
    volatility: float = 0.0                 # random walk: std of the log price change per day
    floor: float = 0.0                      # never below
    ceiling: float = 1e12                   # never above
    promo_probability_per_day: float = 0.0  # chance a promotion starts
    promo_depth: float = 0.0                # price cut during a promotion (0.2 = 20 % off)
    promo_days: float = 0.0
    react_undercut: float = 0.0             # reactive: price = min(own, our price * (1 - react_undercut))
    react_probability: float = 0.0          # chance per period that it reacts to our price
    out_of_stock_probability_per_day: float = 0.0
    out_of_stock_days: float = 0.0
    observe_every_periods: int = 1          # how often the shop sees its price (a competitor-prices event)


@dataclass(frozen=True)
class InventorySpec:
    initial_on_hand: int                    # ignored when initial_on_hand_per_period is set
    initial_on_hand_per_period: float | None = None   # stock = round(this x periods) (ferreira2018: 0.25)
    restock_enabled: bool = True
    lead_time_days_mean: float = 3.0
    lead_time_days_std: float = 1.0
    service_level: float = 0.95
    order_cost: float = 0.0
    holding_cost_rate: float = 0.25         # per year, fraction of unit cost
    reorder_point: int | None = None        # the shop's fixed rule (baseline restock policy)
    order_up_to: int | None = None


@dataclass(frozen=True)
class ShockSpec:
    """Something that happens mid-horizon: a demand spike, or a competitor price war."""
    kind: Literal["demand", "price-war"]
    start_day: float
    end_day: float
    multiplier: float = 1.0                 # demand: views x multiplier
    competitor: str | None = None           # price-war: this competitor (all when None) ...
    price_factor: float = 1.0               # ... prices at factor x its normal price


@dataclass(frozen=True)
class CalendarSpec:
    """A calendar entry: the shop publishes it on ``publish_day`` (a ``CalendarEntry`` on the calendar
    topic); from ``start_day`` to ``end_day`` each SKU's views are multiplied by its true lift (its own
    ``calendar_lifts``, else ``lift``) raised to ``value`` x the share of the period covered."""
    calendar_id: str
    effect: str
    kind: Literal["holiday", "campaign", "signal"]
    start_day: float
    end_day: float
    lift: float = 1.0
    value: float = 1.0
    publish_day: float = 0.0
    expected_lift: float | None = None
    skus: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SkuSpec:
    sku: str
    unit_cost: float
    list_price: float
    min_price: float
    max_price: float
    views: ViewsSpec
    purchase: PurchaseSpec
    inventory: InventorySpec
    competitors: tuple[CompetitorSpec, ...] = ()
    shocks: tuple[ShockSpec, ...] = ()
    map_price: float | None = None
    price_points: tuple[float, ...] | None = None
    min_margin: float = 0.0
    max_step_pct: float = 0.2
    min_change_interval_s: int = 0
    # sold through segments at their own prices (the SKU's ``purchase`` is then how one price sells
    # to the mix, for what does not price per segment); the catalogue names them unless the shop
    # forbids segmenting (``segmented=False`` in ``catalog_entry``)
    segments: tuple[SegmentSpec, ...] = ()
    max_segment_spread_pct: float = 0.2
    watched_segment: str | None = None      # whose price the competitors see; None: the lowest segment price

    def initial_on_hand(self, periods: int) -> int:
        per = self.inventory.initial_on_hand_per_period
        return self.inventory.initial_on_hand if per is None else round(per * periods)

    def catalog_entry(self, event_time_ms: int, sell_until_ms: int | None = None,
                      segmented: bool = True) -> CatalogEntry:
        inv = self.inventory
        return CatalogEntry(
            schema_version=SCHEMA_VERSION, event_id=f"catalog-{self.sku}-{event_time_ms}", sku=self.sku,
            event_time_ms=event_time_ms, unit_cost=self.unit_cost, list_price=self.list_price,
            min_price=self.min_price, max_price=self.max_price,
            lead_time_days_mean=inv.lead_time_days_mean, lead_time_days_std=inv.lead_time_days_std,
            service_level=inv.service_level, order_cost=inv.order_cost, holding_cost_rate=inv.holding_cost_rate,
            restock_enabled=inv.restock_enabled, map_price=self.map_price,
            price_points=list(self.price_points) if self.price_points else None, min_margin=self.min_margin,
            max_step_pct=self.max_step_pct, min_change_interval_s=self.min_change_interval_s,
            reorder_point=inv.reorder_point, order_up_to=inv.order_up_to, sell_until_ms=sell_until_ms,
            segments=[seg.name for seg in self.segments] if segmented and self.segments else None,
            max_segment_spread_pct=self.max_segment_spread_pct,
            # the shop knows which of its prices the comparison sites read
            competitors_watch_segment=self.watched_segment if segmented and self.segments else None)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    start_time_ms: int                      # event time of the first period's start
    period_minutes: float
    periods: int                            # horizon = periods x period length
    skus: tuple[SkuSpec, ...]
    oracle: Literal["unlimited-stock", "fluid-lp"] = "unlimited-stock"
    calendar: tuple[CalendarSpec, ...] = ()

    @property
    def period_ms(self) -> int:
        return int(self.period_minutes * 60_000)

    def period_start(self, t: int) -> int:
        return self.start_time_ms + t * self.period_ms


def load_scenario(name_or_path: str | Path, periods: int | None = None) -> Scenario:
    """A built-in scenario by name (``standard``, ``slow-movers``, ``shock``, ``ferreira2018``...) or a file.

    ``periods`` overrides the horizon (short runs for tests and demos).
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = BUILT_IN_DIR / f"{name_or_path}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in BUILT_IN_DIR.glob("*.json")))
        raise FileNotFoundError(f"no scenario {name_or_path!r}: give a file or one of: {known}")
    data = json.loads(path.read_text())
    validate_scenario(data, source=str(path))
    scenario = scenario_from_dict(data)
    if periods is not None:
        from dataclasses import replace
        scenario = replace(scenario, periods=periods)
    return scenario


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "scenario.schema.json"


def scenario_schema() -> dict:
    """The JSON Schema of a scenario file (draft 2020-12): the format's documentation."""
    return json.loads(SCHEMA_PATH.read_text())


@functools.cache
def _schema_validator():
    import fastjsonschema
    return fastjsonschema.compile(scenario_schema())


def validate_scenario(data: dict, source: str = "scenario") -> None:
    """Check ``data`` against ``schemas/scenario.schema.json``; raise ValueError naming the problem.

    Beyond the schema: SKUs are unique, each SKU's catalog entry is consistent (``catalog_problem``),
    a table-form SKU lists its prices within the hard bounds and allows only those prices, competitor
    names are unique with floor <= initial price <= ceiling, and shocks end after they start and name
    existing competitors. The message starts with ``source`` and names the field.

    >>> validate_scenario({"name": "x"}, source="x.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: x.json: scenario must contain ['description', ..., 'start_time_ms'] properties
    """
    import fastjsonschema
    try:
        _schema_validator()(data)
    except fastjsonschema.JsonSchemaException as exc:
        where = _field_path(exc.name or "data")
        message = exc.message.replace(exc.name or "data", where, 1) if exc.name else exc.message
        raise ValueError(f"{source}: {_with_sku(data, where, message)}") from None
    scenario = scenario_from_dict(data)
    if round(scenario.period_minutes * 60_000, 6) != scenario.period_ms:
        raise ValueError(f"{source}: period_minutes {scenario.period_minutes} is not a whole number of ms")
    for i, entry in enumerate(scenario.calendar):
        if entry.end_day <= entry.start_day:
            raise ValueError(f"{source}: calendar[{i}].end_day: {entry.end_day} is not after start_day {entry.start_day}")
    seen: set[str] = set()
    for i, sku in enumerate(scenario.skus):
        problem = _sku_problem(sku, scenario)
        if sku.sku in seen:
            problem = f"sku: {sku.sku!r} appears twice"
        seen.add(sku.sku)
        if problem:
            raise ValueError(f"{source}: skus[{i}] (sku {sku.sku!r}): {problem}")


def _field_path(name: str) -> str:
    """fastjsonschema's ``data.skus[0].purchase.elasticity`` as ``skus[0].purchase.elasticity``."""
    if name == "data":
        return "scenario"
    return name.removeprefix("data.").removeprefix("data")


def _with_sku(data: dict, where: str, message: str) -> str:
    """Add the SKU's id to a message about ``skus[i]...``, when it has one."""
    if where.startswith("skus["):
        try:
            i = int(where[5:where.index("]")])
            sku = data["skus"][i]["sku"]
        except (ValueError, LookupError, TypeError):
            return message
        return f"{message} (sku {sku!r})"
    return message


def _sku_problem(sku: SkuSpec, scenario: Scenario) -> str | None:
    from pricestream.domain.guardrails import PRICE_TOLERANCE, hard_bounds
    from schemas.codec import catalog_problem

    entry = sku.catalog_entry(scenario.start_time_ms)
    problem = catalog_problem(entry)
    if problem:
        return f"catalog: {problem}"
    bounds = hard_bounds(entry)
    purchase = sku.purchase
    if purchase.form == "table":
        if len(purchase.prices) != len(purchase.probabilities):
            return (f"purchase.probabilities: {len(purchase.probabilities)} probabilities for "
                    f"{len(purchase.prices)} prices")
        for j, price in enumerate(purchase.prices):
            if not bounds.low - PRICE_TOLERANCE <= price <= bounds.high + PRICE_TOLERANCE:
                return (f"purchase.prices[{j}]: {price} is outside the hard bounds "
                        f"[{bounds.low}, {bounds.high}] ({bounds.low_rule} sets the floor)")
        if sku.price_points is None:
            return "price_points: a table-form SKU must list its allowed prices (a subset of purchase.prices)"
        for j, point in enumerate(sku.price_points):
            if not any(abs(point - p) <= PRICE_TOLERANCE * max(1.0, p) for p in purchase.prices):
                return f"price_points[{j}]: {point} has no purchase probability in purchase.prices"
    if sku.segments:
        problem = _segments_problem(sku)
        if problem:
            return problem
    names: set[str] = set()
    for j, comp in enumerate(sku.competitors):
        if comp.name in names:
            return f"competitors[{j}].name: {comp.name!r} appears twice"
        names.add(comp.name)
        if comp.floor > comp.ceiling:
            return f"competitors[{j}].floor: {comp.floor} is above the ceiling {comp.ceiling}"
        if not comp.floor <= comp.initial_price <= comp.ceiling:
            return f"competitors[{j}].initial_price: {comp.initial_price} is outside [floor, ceiling]"
    for j, shock in enumerate(sku.shocks):
        if shock.end_day <= shock.start_day:
            return f"shocks[{j}].end_day: {shock.end_day} is not after start_day {shock.start_day}"
        if shock.kind == "price-war" and shock.competitor is not None and shock.competitor not in names:
            return f"shocks[{j}].competitor: no competitor named {shock.competitor!r}"
    return None


def _segments_problem(sku: SkuSpec) -> str | None:
    names = [seg.name for seg in sku.segments]
    if len(names) < 2 or len(set(names)) != len(names):
        return f"segments: {names} must be two or more distinct names"
    total = sum(seg.view_share for seg in sku.segments)
    if abs(total - 1.0) > 1e-6:
        return f"segments: the view shares add up to {total}, not 1"
    if sku.price_points is not None:
        return "segments: a segmented SKU takes any price in its bounds (no price_points)"
    if sku.watched_segment is not None and sku.watched_segment not in names:
        return f"watched_segment: {sku.watched_segment!r} is not one of the segments {names}"
    for j, seg in enumerate(sku.segments):
        if seg.purchase.form == "table":
            return f"segments[{j}].purchase: a segment buys by the constant-elasticity or linear form"
    return None


def scenario_from_dict(data: dict) -> Scenario:
    """Nested dicts (a parsed scenario file) to the frozen dataclasses; lists become tuples.

    Missing optional fields take the dataclass defaults; ``data`` is assumed valid (see
    ``validate_scenario``).
    """
    return _build(Scenario, data)


def _build(cls: type, data: dict):
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name])
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    return cls(**values)


@functools.cache
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _convert(tp, value):
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], value) if len(args) == 1 else value
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, v) for v in value)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
