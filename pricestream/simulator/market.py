"""The true market of a scenario: it reacts to the engine's prices and restock orders, period by period.

Per SKU it keeps the real stock, the restocks on their way, the competitors and its own random
generator (seeded by scenario seed and SKU), so the draws of one SKU never depend on the order in
which another SKU's decisions arrived. It writes the events the shop would see (catalogue, counts,
clicks, orders, competitor prices, receipts) and keeps the books the report is made of.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from pricestream.simulator.competitors import CompetitorMarket
from pricestream.simulator.demand import (
    calendar_factor, expected_sales, expected_sales_binomial, purchase_probability, view_rate,
)
from pricestream.simulator.oracle import (
    fluid_lp_bound, oracle_price, oracle_price_answered, segment_oracle_answered, segment_oracle_prices,
    segment_oracle_profit,
)
from pricestream.simulator.rule_audit import RuleAudit
from pricestream.simulator.scenario import DAY_MS, Scenario, SkuSpec
from schemas.records import SCHEMA_VERSION, CalendarEntry, CatalogEntry, Click, CompetitorPrice, InventoryEvent, Order

YEAR_DAYS = 365.0


@dataclass
class SkuBooks:
    """What happened to one SKU: the numbers the report is made of."""
    expected_profit: float = 0.0        # sum over periods of (price - cost) x E[sales | price, stock]
    realised_profit: float = 0.0        # (price - cost) x units actually sold
    oracle_profit: float = 0.0
    oracle_given_prices_profit: float = 0.0     # the oracle that takes competitor prices as they happened
    revenue: float = 0.0
    holding_cost: float = 0.0
    ordering_cost: float = 0.0
    units_sold: int = 0
    units_demanded: int = 0
    stockout_periods: int = 0
    on_hand_sum: float = 0.0
    periods: int = 0
    price_changes: int = 0
    restock_orders: int = 0
    price_path: list[float] = field(default_factory=list)
    oracle_path: list[float] = field(default_factory=list)
    demand_path: list[float] = field(default_factory=list)      # expected demand at the price charged
    demanded_path: list[int] = field(default_factory=list)      # units asked for, sold or not
    on_hand_path: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)            # for the fluid-LP oracle
    competitor_path: list[float | None] = field(default_factory=list)
    # the engine's one-period-ahead forecasts of units sold, against what sold, and against the floor:
    # the error of the true expected sales (no forecaster can beat it on average)
    forecast_abs_error: float = 0.0
    floor_abs_error: float = 0.0
    naive_abs_error: float = 0.0            # seasonal naive: the units of the same period a day earlier
    sold_path: list[int] = field(default_factory=list)
    forecasts_scored: int = 0
    last_forecast: dict | None = None
    # for the report's plots only (nothing decides on them), per period: the engine's forecast of units
    # sold and its predictive standard deviation (None before its first), the reorder point as of the
    # latest restock order (the catalogue's before any); and the restocks as (period, units)
    forecast_path: list[float | None] = field(default_factory=list)
    forecast_std_path: list[float | None] = field(default_factory=list)
    reorder_point_path: list[float | None] = field(default_factory=list)
    restocks_ordered: list[tuple[int, int]] = field(default_factory=list)    # period it is ordered before
    restocks_arrived: list[tuple[int, int]] = field(default_factory=list)    # period it arrives in
    # per restock order that carried a forecast: (period it is ordered before, the lead time's demand it
    # planned for, the days that covers), to score against the true expected demand of those days
    restock_forecasts: list[tuple[int, float, float]] = field(default_factory=list)
    # the periods a calendar entry lifts the SKU's true views (peaks): forecasts and service there
    peak_periods: int = 0
    peak_forecast_abs_error: float = 0.0
    peak_floor_abs_error: float = 0.0
    peak_truth_abs_error: float = 0.0       # |forecast - true expected sales|: the model's error, without noise
    # log(the calendar lift the forecast applied / the true calendar factor), summed over scored peak periods
    peak_lift_log_error: float = 0.0
    peak_lift_abs_log_error: float = 0.0
    # per day with peak periods: the sums over them of [forecast, units sold, true expected sales]. At a
    # few units an hour, hourly MAE rewards forecasting the median (below the mean); a day's sum is not
    peak_days: dict[int, list[float]] = field(default_factory=dict)
    peak_forecasts_scored: int = 0
    peak_units_sold: int = 0
    peak_units_demanded: int = 0


@dataclass
class SkuMarket:
    spec: SkuSpec
    rng: np.random.Generator
    competitors: CompetitorMarket
    on_hand: int
    price: float                                    # what the shop charges (list price until decided)
    arrivals: list[tuple[int, str, int]] = field(default_factory=list)   # heap of (time, restock_id, units)
    pending_forecast: float | None = None           # the engine's forecast of units for the coming period
    pending_forecast_std: float | None = None
    pending_lift: float = 1.0                       # the calendar lift in that forecast
    reorder_point: float | None = None              # the latest restock order's (the catalogue's before any)
    books: SkuBooks = field(default_factory=SkuBooks)
    seq: int = 0
    # a segmented SKU: what each segment is charged (``price`` is then what competitors see: ``watched_price``)
    segment_prices: dict[str, float] = field(default_factory=dict)
    oracle_cache: dict = field(default_factory=dict)    # competitor price -> the segment oracle's prices
    # competitors' answers -> (price, profit a view); a segmented SKU's: (prices per segment, profit a view)
    answered_oracle_cache: dict = field(default_factory=dict)

    def next_id(self, kind: str) -> str:
        self.seq += 1
        return f"{self.spec.sku}-{kind}-{self.seq}"


class Market:
    def __init__(self, scenario: Scenario, seed: int | None = None, publish_calendar: bool = True,
                 segmented: bool = True):
        """``publish_calendar=False``: the scenario's calendar still moves demand, but the shop never
        tells the engine (what forecasts without the calendar are measured on). ``segmented=False``: the
        catalogue names no segments, so the engine sets one price per SKU; the segments still buy as
        they do (what one price per SKU earns is measured on)."""
        self.scenario = scenario
        self.publish_calendar = publish_calendar
        self.segmented = segmented
        self.seed = scenario.seed if seed is None else seed
        self.skus: dict[str, SkuMarket] = {}
        for index, spec in enumerate(scenario.skus):
            self.skus[spec.sku] = SkuMarket(
                spec=spec, rng=np.random.default_rng([self.seed, index]),
                competitors=CompetitorMarket(spec, np.random.default_rng([self.seed, index, 1]),
                                             scenario.period_ms, scenario.start_time_ms),
                on_hand=spec.initial_on_hand(scenario.periods), price=spec.list_price,
                reorder_point=spec.inventory.reorder_point,
                segment_prices={seg.name: spec.list_price for seg in spec.segments})
        # every price the engine emits, against the catalogue rules it was given
        self.rule_audit = RuleAudit(self.catalog_entries())

    # -- what the shop sees -------------------------------------------------------------------
    def catalog_entries(self) -> dict[str, CatalogEntry]:
        """The catalogue the shop publishes just before the first period (and keeps: the rules do not change)."""
        t = self.scenario.start_time_ms - 1
        # a SKU that is never restocked sells until the scenario ends, and the shop says so
        end = self.scenario.period_start(self.scenario.periods)
        return {sku: m.spec.catalog_entry(t, None if m.spec.inventory.restock_enabled else end, self.segmented)
                for sku, m in self.skus.items()}

    def opening_events(self) -> list:
        """The catalogue and the first stock counts, just before the first period."""
        t = self.scenario.start_time_ms - 1
        events: list = list(self.catalog_entries().values())
        events += [InventoryEvent(SCHEMA_VERSION, m.next_id("count"), sku, t, "count", m.on_hand, None)
                   for sku, m in self.skus.items()]
        return events + self._calendar_published(None, self.scenario.start_time_ms + 1)

    def _calendar_published(self, start_ms: int | None, end_ms: int) -> list[CalendarEntry]:
        """The calendar entries the shop publishes in ``[start_ms, end_ms)`` (None: from any time before)."""
        if not self.publish_calendar:
            return []
        t0 = self.scenario.start_time_ms
        out = []
        for spec in self.scenario.calendar:
            published = t0 + round(spec.publish_day * DAY_MS)
            if (start_ms is None or published >= start_ms) and published < end_ms:
                out.append(CalendarEntry(
                    SCHEMA_VERSION, f"calendar-{spec.calendar_id}-{published}", spec.calendar_id,
                    published, spec.kind, spec.effect, t0 + round(spec.start_day * DAY_MS),
                    t0 + round(spec.end_day * DAY_MS), spec.value, spec.expected_lift,
                    list(spec.skus) if spec.skus else None))
        return out

    def period_events(self, t: int) -> list:
        """Play period ``t`` at the current prices: receipts, competitors, views and sales."""
        start = self.scenario.period_start(t)
        period_ms = self.scenario.period_ms
        # an entry goes out in the period its publish time falls in (publish_day <= 0: at the opening)
        events: list = self._calendar_published(max(start, self.scenario.start_time_ms + 1), start + period_ms)
        for sku, m in self.skus.items():
            events += self._receipts(m, t, start, period_ms)
            for obs in m.competitors.step(t, m.price):
                events.append(CompetitorPrice(SCHEMA_VERSION, m.next_id("comp"), sku, start, obs.name,
                                              obs.price, obs.in_stock))
            events += self._trade(m, t, start, period_ms)
        return events

    def _receipts(self, m: SkuMarket, t: int, start: int, period_ms: int) -> list:
        events = []
        while m.arrivals and m.arrivals[0][0] < start + period_ms:
            _, restock_id, units = heapq.heappop(m.arrivals)
            m.on_hand += units
            m.books.restocks_arrived.append((t, units))
            events.append(InventoryEvent(SCHEMA_VERSION, m.next_id("receipt"), m.spec.sku, start, "receipt",
                                         units, restock_id))
        return events

    def _trade(self, m: SkuMarket, t: int, start: int, period_ms: int) -> list:
        spec, books = m.spec, m.books
        competitor = m.competitors.cheapest_in_stock()
        rate = view_rate(spec, start, period_ms, self.scenario.start_time_ms, self.scenario.calendar)
        peak_factor = calendar_factor(spec, self.scenario.calendar, start, period_ms, self.scenario.start_time_ms) \
            if self.scenario.calendar else 1.0
        peak = peak_factor > 1.0
        stock = max(m.on_hand, 0)
        if spec.segments:
            return self._trade_segments(m, start, period_ms, rate, competitor, stock, peak, peak_factor)
        q = purchase_probability(spec.purchase, m.price, competitor)
        if spec.views.deterministic:
            views = int(round(rate))
            demand = int(m.rng.binomial(views, q)) if views else 0
            expected, expected_demand = expected_sales_binomial(views, q, stock), views * q
        else:
            views = int(m.rng.poisson(rate))
            demand = int(m.rng.binomial(views, q)) if views else 0
            expected, expected_demand = expected_sales(rate * q, stock), rate * q
        sold = min(demand, stock)
        margin = m.price - spec.unit_cost
        self._score_forecast(m, start, sold, expected_demand, peak, peak_factor, demand, stock)
        books.periods += 1
        books.expected_profit += margin * expected
        books.realised_profit += margin * sold
        books.revenue += m.price * sold
        books.price_path.append(m.price)
        books.demand_path.append(rate * q)
        # the clairvoyant knows this period's true demand and how the competitors would price against
        # its price (their own prices and how a reactive one answers); the per-view figures are cached
        # per state of the competitors, which changes a few times a day
        answers = m.competitors.answers()
        best = m.answered_oracle_cache.get(answers)
        if best is None:
            best = m.answered_oracle_cache[answers] = oracle_price_answered(spec, 1.0, answers)
        books.oracle_path.append(best[0])
        books.oracle_profit += rate * best[1]
        # and the one that takes the competitor prices that happened as given (see oracle_price_answered)
        books.oracle_given_prices_profit += oracle_price(spec, rate, competitor)[1]
        self._book_period(m, rate, competitor, demand, sold, stock, period_ms)

        times = np.sort(m.rng.integers(start, start + period_ms, size=views + sold)) if views else []
        events = [Click(SCHEMA_VERSION, m.next_id("view"), spec.sku, int(x)) for x in times[:views]]
        events += [Order(SCHEMA_VERSION, m.next_id("order"), m.next_id("o"), spec.sku, int(x), 1, m.price)
                   for x in times[views:views + sold]]
        return events

    def _trade_segments(self, m: SkuMarket, start: int, period_ms: int, rate: float, competitor: float | None,
                        stock: int, peak: bool, peak_factor: float) -> list:
        """A segmented SKU's period: each segment's views buy at its own price from the shared stock;
        when demand exceeds the stock, the units sold are a random draw of the units asked for."""
        spec, books = m.spec, m.books
        names = [seg.name for seg in spec.segments]
        prices = np.array([m.segment_prices[n] for n in names])
        rates = np.array([rate * seg.view_share for seg in spec.segments])
        qs = np.array([purchase_probability(seg.purchase, float(p), competitor)
                       for seg, p in zip(spec.segments, prices)])
        views = m.rng.poisson(rates)
        asked = np.array([m.rng.binomial(v, q) if v else 0 for v, q in zip(views, qs)])
        demand = int(asked.sum())
        if demand > stock:          # which units the stock serves: a random draw, without replacement
            sold_by = m.rng.multivariate_hypergeometric(asked, stock) if stock else np.zeros_like(asked)
        else:
            sold_by = asked
        sold = int(sold_by.sum())
        lam = rates * qs
        expected = expected_sales(float(lam.sum()), stock)
        margins = prices - spec.unit_cost
        self._score_forecast(m, start, sold, float(lam.sum()), peak, peak_factor, demand, stock)

        books.periods += 1
        books.expected_profit += expected * (float(lam @ margins) / float(lam.sum()) if lam.sum() > 0 else 0.0)
        books.realised_profit += float(sold_by @ margins)
        books.revenue += float(sold_by @ prices)
        # the price drawn: the segments' mean weighted by their views
        books.price_path.append(float(rates @ prices / rates.sum()) if rates.sum() > 0 else float(prices.mean()))
        books.demand_path.append(float(lam.sum()))
        # the oracle whose watched price the reacting competitor answers (as for one price), and the one
        # that takes the competitor prices of this run as given
        answers = m.competitors.answers()
        answered = m.answered_oracle_cache.get(answers)
        if answered is None:
            answered = m.answered_oracle_cache[answers] = segment_oracle_answered(spec, answers)
        best, profit_a_view = answered
        books.oracle_path.append(sum(best[n] * seg.view_share for n, seg in zip(names, spec.segments)))
        books.oracle_profit += rate * profit_a_view
        given = m.oracle_cache.get(competitor)
        if given is None:
            given = m.oracle_cache[competitor] = segment_oracle_prices(spec, competitor)
        books.oracle_given_prices_profit += segment_oracle_profit(spec, rate, competitor, given)
        self._book_period(m, rate, competitor, demand, sold, stock, period_ms)

        events = []
        for name, price, n_views, n_sold in zip(names, prices, views, sold_by):
            n_views, n_sold = int(n_views), int(n_sold)
            times = np.sort(m.rng.integers(start, start + period_ms, size=n_views + n_sold)) if n_views else []
            events += [Click(SCHEMA_VERSION, m.next_id("view"), spec.sku, int(x), None, name) for x in times[:n_views]]
            events += [Order(SCHEMA_VERSION, m.next_id("order"), m.next_id("o"), spec.sku, int(x), 1, float(price),
                             name) for x in times[n_views:n_views + n_sold]]
        events.sort(key=lambda e: e.event_time_ms)
        return events

    def _book_period(self, m: SkuMarket, rate: float, competitor: float | None, demand: int, sold: int,
                     stock: int, period_ms: int) -> None:
        spec, books = m.spec, m.books
        books.units_sold += sold
        books.units_demanded += demand
        books.demanded_path.append(demand)
        books.stockout_periods += demand > stock
        books.on_hand_sum += stock
        books.holding_cost += stock * spec.unit_cost * spec.inventory.holding_cost_rate * period_ms / DAY_MS / YEAR_DAYS
        books.on_hand_path.append(stock)
        books.rates.append(rate)
        books.competitor_path.append(competitor)
        m.on_hand -= sold

    def _score_forecast(self, m: SkuMarket, start: int, sold: int, expected_demand: float, peak: bool,
                        peak_factor: float, demand: int, stock: int) -> None:
        """Score the engine's forecast of this period's units, before the period is booked.

        The engine forecasts demand (its model learns from periods with stock, and restocking plans on
        demand), so the forecast is scored against the units asked for, sold or not, and the floor is the
        true expected demand against the same units. Against units sold, a forecast was charged its
        whole value in every period the shelf was empty, where the floor of expected sales was not: on
        ``standard`` one SKU-run of a slow seller with 9 empty hours read 1.12 x its floor so."""
        books = m.books
        season = max(1, round(DAY_MS / self.scenario.period_ms))
        if m.pending_forecast is not None and len(books.sold_path) >= season:
            books.forecast_abs_error += abs(m.pending_forecast - demand)
            books.floor_abs_error += abs(expected_demand - demand)
            # the seasonal naive forecaster has only what sold to go on, as a shop does
            books.naive_abs_error += abs(books.sold_path[-season] - demand)
            books.forecasts_scored += 1
            if peak:
                books.peak_forecast_abs_error += abs(m.pending_forecast - demand)
                books.peak_floor_abs_error += abs(expected_demand - demand)
                books.peak_truth_abs_error += abs(m.pending_forecast - expected_demand)
                miss = math.log(m.pending_lift / peak_factor)
                books.peak_lift_log_error += miss
                books.peak_lift_abs_log_error += abs(miss)
                day = books.peak_days.setdefault((start - self.scenario.start_time_ms) // DAY_MS, [0.0, 0.0, 0.0])
                day[0] += m.pending_forecast
                day[1] += demand
                day[2] += expected_demand
                books.peak_forecasts_scored += 1
        if peak:
            books.peak_periods += 1
            books.peak_units_sold += min(demand, stock)
            books.peak_units_demanded += demand
        books.forecast_path.append(m.pending_forecast)
        books.forecast_std_path.append(m.pending_forecast_std)
        books.reorder_point_path.append(m.reorder_point)
        m.pending_forecast = m.pending_forecast_std = None
        m.pending_lift = 1.0
        books.sold_path.append(sold)

    # -- what the engine decided ---------------------------------------------------------------
    def apply_decision(self, topic: str, event: dict) -> None:
        m = self.skus.get(event.get("sku"))
        if m is None:
            return
        if topic == "price-changes":
            self.rule_audit.price_change(event)
            segment = event.get("segment")
            if segment is not None and segment in m.segment_prices:
                m.segment_prices[segment] = event["new_price"]
            else:           # one price for the SKU: every segment pays it
                m.segment_prices = {name: event["new_price"] for name in m.segment_prices}
            m.price = watched_price(m) if m.segment_prices else event["new_price"]
            m.books.price_changes += 1
        elif topic == "demand-forecasts":
            m.pending_forecast = event["expected_units"]
            m.pending_forecast_std = event["units_std"]
            m.pending_lift = event.get("calendar_lift", 1.0)
            m.books.last_forecast = event
        elif topic == "restock-orders":
            inv = m.spec.inventory
            m.books.restock_orders += 1
            m.books.ordering_cost += inv.order_cost
            m.reorder_point = event["reorder_point"]
            m.books.restocks_ordered.append((len(m.books.price_path), int(event["quantity"])))
            if event.get("lead_time_demand_mean") is not None:
                m.books.restock_forecasts.append((len(m.books.price_path), event["lead_time_demand_mean"],
                                                  event["lead_time_days_mean"]))
            if not inv.restock_enabled:
                return
            days = max(0.0, m.rng.normal(inv.lead_time_days_mean, inv.lead_time_days_std))
            heapq.heappush(m.arrivals, (event["event_time_ms"] + int(days * DAY_MS), event["restock_id"],
                                        int(event["quantity"])))

    def finish(self) -> None:
        """Close the rule audit; replace the per-period oracle by the fluid LP bound where the scenario
        asks for it."""
        self.rule_audit.finish()
        if self.scenario.oracle != "fluid-lp":
            return
        for m in self.skus.values():
            b = m.books
            b.oracle_profit = b.oracle_given_prices_profit = fluid_lp_bound(
                m.spec, b.rates, b.competitor_path, m.spec.initial_on_hand(self.scenario.periods))


def watched_price(m: SkuMarket) -> float:
    """A segmented SKU's price as its competitors see it: the watched segment's, else the lowest."""
    watched = m.spec.watched_segment
    return m.segment_prices[watched] if watched in m.segment_prices else min(m.segment_prices.values())


def safe_ratio(a: float, b: float) -> float | None:
    return a / b if b and math.isfinite(b) else None
