"""The per-SKU state machine: ``apply(state, event)`` updates, ``close(state, tick_time)`` decides.

One implementation for both shells: the Faust worker calls it for each consumed record and each tick,
the offline simulator calls it in process. Events only update state, in ways that do not depend on
their order within a period (counts, sums, latest-by-event-time); decisions are made at ticks. It
reads no clock (time is the event's or tick's ``event_time_ms``), draws no unseeded randomness and
numbers its decisions per SKU, so the same input gives the same outputs, ids included, however the
worker interleaved the topics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pricestream.domain.calendar import CalendarView
from pricestream.domain.demand_model import DAY_MS, DemandModel, PeriodCounts, units_std
from pricestream.domain.experiment import CHALLENGER, Experiment
from pricestream.domain.guardrails import PRICE_TOLERANCE, apply_guardrails, hard_bounds
from pricestream.domain.inventory import BASELINE_RESTOCK_POLICIES, Stock
from pricestream.domain.learned_pricing import (
    candidate_prices, exploration_rng, learned_policy, pacing_horizon_periods,
)
from pricestream.domain.learned_restock import learned_restock_policy
from pricestream.domain.pricing import BASELINE_POLICIES, CompetitorQuote, PolicyParams, PricingContext
from pricestream.domain.segments import (
    SPREAD, AnswerSpillover, AnswerToWatchedPrice, SegmentDemand, SegmentedDemand, best_band, blended_price, fit_spread,
    rounded_into_spread, spread_ok, watched_price, watched_segment,
)
from pricestream.domain.warm_start import warm_demand_model
from schemas.codec import Delisting, PriorWithdrawal, deterministic_id
from schemas.records import (
    SCHEMA_VERSION, CatalogEntry, Click, CompetitorPrice, DemandForecast, InventoryEvent, ModelPrior, Order,
    PriceChange, RestockOrder,
)

DEFAULT_PRIOR_ELASTICITY = -2.0   # before the pool has learned anything: a typical retail elasticity
PRICING_POLICIES = {**BASELINE_POLICIES, "learned": learned_policy}
DEMAND_PRICED = {"learned"}     # the policies that price from the learned demand
RESTOCK_POLICIES = {**BASELINE_RESTOCK_POLICIES, "learned": learned_restock_policy}
# policies that reconsider every SKU at every tick (the baselines wait to be asked by an input)
REPRICE_EVERY_PERIOD = frozenset({"learned"})
RECENT_IDS_KEPT = 64      # per SKU: enough to absorb a producer's retries, small enough to stay cheap


@dataclass(frozen=True, slots=True)
class EngineConfig:
    pricing_policy: str = "competitor-match"
    restock_policy: str = "fixed-reorder"
    params: PolicyParams = PolicyParams()
    # champion/challenger: ``pricing_policy`` is the champion, the experiment's policy prices its share
    experiment: Experiment | None = None

    def __post_init__(self):
        if self.pricing_policy not in PRICING_POLICIES:
            raise ValueError(f"unknown pricing policy {self.pricing_policy!r}; known: {sorted(PRICING_POLICIES)}")
        if self.experiment is not None and self.experiment.challenger_policy not in PRICING_POLICIES:
            raise ValueError(f"unknown challenger pricing policy {self.experiment.challenger_policy!r}; "
                             f"known: {sorted(PRICING_POLICIES)}")
        if self.restock_policy not in RESTOCK_POLICIES:
            raise ValueError(f"unknown restock policy {self.restock_policy!r}; known: {sorted(RESTOCK_POLICIES)}")


@dataclass(slots=True)
class SkuState:
    """Everything the engine keeps about one SKU. Serialisable with ``to_dict``/``from_dict``."""
    sku: str
    catalog: CatalogEntry | None = None
    price: float | None = None
    last_price_change_ms: int | None = None
    reprice_pending: bool = False       # the catalogue or a competitor changed, or a change was held back
    # (event_time_ms, topic, event_id) of the latest input that asked for a new price
    reprice_trigger: tuple[int, str, str] = (0, "catalog", "")
    price_seq: int = 0
    restock_seq: int = 0
    competitors: dict[str, CompetitorQuote] = field(default_factory=dict)
    stock: Stock = field(default_factory=Stock)
    stock_known: bool = False           # on hand is unknown until the first count or receipt
    views: int = 0
    units_sold: int = 0
    revenue: float = 0.0
    period: PeriodCounts = field(default_factory=PeriodCounts)     # the open period, counted per event
    demand: DemandModel | None = None       # learned at ticks; made at the SKU's first tick
    last_event_time_ms: int = 0
    recent_ids: list[str] = field(default_factory=list)
    # dead letters (as dicts) of events that came before any catalogue entry: emitted at the tick
    # if the SKU is still unlisted then, dropped when its entry arrives in the same period
    held_letters: list[dict] = field(default_factory=list)
    # per input topic, the offset of the last message applied to this SKU (its partition is fixed):
    # a message Faust delivers again after a rebalance or recovery is recognised and skipped
    applied_offsets: dict[str, int] = field(default_factory=dict)
    # the latest warm-start prior (``pricestream bootstrap``): used when the demand model is created
    model_prior: ModelPrior | None = None
    # a segmented SKU (its catalogue entry names segments): per segment, its price and the open period's
    # [views, units] (keyed by the event's segment name; folded into the default at the tick), and the
    # segments' demand. ``price`` is then the blend of the segments' prices (``segments.blended_price``)
    segment_prices: dict[str, float] = field(default_factory=dict)
    segment_demand: SegmentedDemand | None = None
    segment_period: dict[str, list[int]] = field(default_factory=dict)
    # the price stock is planned for while ``price`` is charged: lower when stock pacing raised it
    # (``PriceProposal.planning_price``); None before the first decision, or in state written before it
    planning_price: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "catalog": None if self.catalog is None else _record_dict(self.catalog),
            "price": self.price, "last_price_change_ms": self.last_price_change_ms,
            "planning_price": self.planning_price,
            "reprice_pending": self.reprice_pending, "reprice_trigger": list(self.reprice_trigger),
            "price_seq": self.price_seq, "restock_seq": self.restock_seq,
            "competitors": {k: [q.price, q.in_stock, q.event_time_ms] for k, q in self.competitors.items()},
            "on_hand": self.stock.on_hand, "open_orders": dict(self.stock.open_orders),
            "ordered_at": dict(self.stock.ordered_at),
            "stock_known": self.stock_known,
            "views": self.views, "units_sold": self.units_sold, "revenue": self.revenue,
            "period": self.period.to_state(),
            "demand": None if self.demand is None else self.demand.to_state(),
            "last_event_time_ms": self.last_event_time_ms, "recent_ids": list(self.recent_ids),
            "held_letters": list(self.held_letters), "applied_offsets": dict(self.applied_offsets),
            "model_prior": None if self.model_prior is None else _record_dict(self.model_prior),
            # only for segmented SKUs: the others' state stays as small as before
            **({"segment_prices": dict(self.segment_prices),
                "segment_demand": None if self.segment_demand is None else self.segment_demand.to_state(),
                "segment_period": {k: list(v) for k, v in self.segment_period.items()}}
               if self.segment_prices or self.segment_demand or self.segment_period else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SkuState":
        return cls(
            sku=d["sku"], catalog=None if d["catalog"] is None else CatalogEntry(**d["catalog"]),
            price=d["price"], last_price_change_ms=d["last_price_change_ms"], planning_price=d.get("planning_price"),
            reprice_pending=d["reprice_pending"], reprice_trigger=tuple(d["reprice_trigger"]), price_seq=d["price_seq"], restock_seq=d["restock_seq"],
            competitors={k: CompetitorQuote(*v) for k, v in d["competitors"].items()},
            stock=Stock(on_hand=d["on_hand"], open_orders=dict(d["open_orders"]),
                        ordered_at=dict(d.get("ordered_at", {}))), stock_known=d["stock_known"],
            views=d["views"], units_sold=d["units_sold"], revenue=d["revenue"],
            period=PeriodCounts.from_state(d["period"]),
            demand=None if d["demand"] is None else DemandModel.from_state(d["demand"]),
            last_event_time_ms=d["last_event_time_ms"], recent_ids=list(d["recent_ids"]),
            held_letters=list(d["held_letters"]), applied_offsets=dict(d["applied_offsets"]),
            model_prior=None if d.get("model_prior") is None else ModelPrior(**d["model_prior"]),
            segment_prices=dict(d.get("segment_prices", {})),
            segment_demand=None if d.get("segment_demand") is None else SegmentedDemand.from_state(d["segment_demand"]),
            segment_period={k: list(v) for k, v in d.get("segment_period", {}).items()},
        )


@dataclass(slots=True)
class Outcome:
    """What one event did: the state after it, and whether it came before the SKU was listed."""
    state: SkuState | None
    duplicate: bool = False
    unlisted: bool = False      # no catalogue entry yet: kept, and dead-lettered at the tick if still none


class Engine:
    """Applies input records to per-SKU state under one configuration of policies."""

    def __init__(self, config: EngineConfig):
        self.config = config
        self._restock = RESTOCK_POLICIES[config.restock_policy]

    def pricing_for(self, sku: str, now: int) -> tuple[str | None, str]:
        """The SKU's experiment arm (None when no experiment runs) and the pricing policy that decides it."""
        experiment = self.config.experiment
        arm = None if experiment is None else experiment.arm_at(sku, now)
        if arm is None:
            return None, self.config.pricing_policy
        return arm, experiment.challenger_policy if arm == CHALLENGER else self.config.pricing_policy

    def apply(self, state: SkuState | None, record) -> Outcome:
        """Apply one valid input record. ``state`` is updated in place and returned in the outcome."""
        if isinstance(record, Delisting):
            return Outcome(state=None)
        state = state or SkuState(sku=record.sku)
        if isinstance(record, PriorWithdrawal):
            state.model_prior = None        # a demand model made from it keeps what it learned
            return Outcome(state)

        if isinstance(record, (Order, InventoryEvent)):
            # orders and stock movements change counts: a producer's retry must not count twice
            if record.event_id in state.recent_ids:
                return Outcome(state, duplicate=True)
            state.recent_ids.append(record.event_id)
            del state.recent_ids[:-RECENT_IDS_KEPT]

        now = record.event_time_ms
        state.last_event_time_ms = max(state.last_event_time_ms, now)
        # a catalogue entry lists the SKU; a prior may come before the SKU is listed and waits for it
        outcome = Outcome(state, unlisted=state.catalog is None and not isinstance(record, (CatalogEntry, ModelPrior)))
        if isinstance(record, Click):
            state.views += 1
            state.period.views += 1
            _count_segment(state, record.segment, 0, 1)
        elif isinstance(record, Order):
            state.stock.sell(record.quantity)
            state.units_sold += record.quantity
            state.revenue += record.quantity * record.unit_price
            state.period.units += record.quantity
            _count_segment(state, record.segment, 1, record.quantity)
            state.period.stocked_out |= state.stock_known and state.stock.on_hand <= 0
        elif isinstance(record, CompetitorPrice):
            known = state.competitors.get(record.competitor)
            # the latest observation by event time wins (ties: the lower price), whatever the arrival order
            if known is None or (now, -record.price) >= (known.event_time_ms, -known.price):
                state.competitors[record.competitor] = CompetitorQuote(record.price, record.in_stock, now)
                _ask_for_price(state, record)
        elif isinstance(record, InventoryEvent):
            _move_stock(state.stock, record)
            state.stock_known = True
        elif isinstance(record, CatalogEntry):
            if state.catalog is None or (now, record.event_id) >= (state.catalog.event_time_ms, state.catalog.event_id):
                state.catalog = record
                state.held_letters.clear()      # the events before it were valid after all
                _ask_for_price(state, record)
        elif isinstance(record, ModelPrior):
            known = state.model_prior
            if known is None or (now, record.event_id) >= (known.event_time_ms, known.event_id):
                state.model_prior = record
                if state.demand is not None:    # already learning: only what it forgets toward changes
                    state.demand.elasticity.set_elasticity_prior(record.elasticity, record.elasticity_sd)
        return outcome

    def close(self, state: SkuState, now: int, period_ms: int | None = None,
              prior_elasticity: float | None = None, calendar: CalendarView | None = None,
              ) -> list[PriceChange | RestockOrder | DemandForecast]:
        """At a tick, for one SKU: learn from the period just closed, then decide.

        ``period_ms``: the length of that period (None at the first tick); ``prior_elasticity``: the
        pool's estimate, the prior of a SKU seen for the first time (unless it has a ``ModelPrior``);
        ``calendar``: the entries of the partition's calendar that concern the SKU (None: none do).
        """
        outputs: list = []
        if state.catalog is None:
            return outputs
        competitor = _cheapest_in_stock(state)
        closed, state.period = state.period, PeriodCounts(stocked_out=state.stock_known and state.stock.on_hand <= 0)
        if state.demand is None and state.model_prior is not None:
            state.demand = warm_demand_model(state.model_prior, state.catalog.list_price, closed.views, now, period_ms)
        elif state.demand is None:
            state.demand = DemandModel.new(state.catalog.list_price, prior_elasticity=prior_elasticity
                                           if prior_elasticity is not None else DEFAULT_PRIOR_ELASTICITY)
        # a segmented SKU's competitors answer the price they see (its watched segment's), not the blend
        seen = watched_price(state.catalog, state.segment_prices) if state.catalog.segments else None
        state.demand.close_period(closed, state.price, competitor, period_ms,
                                  price_points=state.catalog.price_points is not None, calendar=calendar,
                                  watched_price=seen, planning_price=state.planning_price)
        segment_counts = _close_segment_counts(state)
        if segment_counts is not None and period_ms is not None and period_ms > 0:
            _segment_demand(state).learn(segment_counts, state.segment_prices, closed.views, competitor,
                                         closed.stocked_out)
        arm, policy = self.pricing_for(state.sku, now)
        reprice = self._reprice_segments if state.catalog.segments else self._reprice
        if state.reprice_pending or state.price is None:
            reprice(state, now, outputs, arm, policy)
        elif policy in REPRICE_EVERY_PERIOD:
            reprice(state, now, outputs, arm, policy, periodic=True)
        self._restock_check(state, now, competitor, outputs, arm)
        outputs.append(self._forecast(state, now, closed, competitor, arm))
        return outputs

    def _forecast(self, state: SkuState, now: int, closed: PeriodCounts, competitor: float | None,
                  arm: str | None) -> DemandForecast:
        demand = state.demand
        views_mean, _ = demand.expected_views(1)
        units_mean, units_var = demand.expected_units(state.price, competitor, 1)
        est = demand.elasticity
        return DemandForecast(
            schema_version=SCHEMA_VERSION, event_id=deterministic_id("demand-forecasts", state.sku, now),
            sku=state.sku, event_time_ms=now, observed_views=closed.views, observed_units=closed.units,
            price=state.price, competitor_price=competitor, expected_views=views_mean,
            expected_units=units_mean, units_std=units_std(units_var), elasticity=est.elasticity,
            elasticity_sd=est.elasticity_sd, cross_elasticity=est.mean[2], forecast_model=demand.forecast_model(),
            arm=arm, calendar_lift=demand.next_period_lift())

    def _rate_limited(self, state: SkuState, now: int) -> bool:
        """Whether the catalogue's least time between changes holds the SKU's prices back this tick;
        if not, the pending request is taken up."""
        if (state.price is not None and state.last_price_change_ms is not None
                and now - state.last_price_change_ms < state.catalog.min_change_interval_s * 1000):
            return True     # held back: stays pending and is retried at the next tick
        state.reprice_pending = False
        return False

    def _context(self, state: SkuState, now: int, current_price: float | None, sku: str, demand,
                 share: float = 1.0) -> PricingContext:
        """What the pricing policy sees; a segment sees its ``share`` of the stock and of what arrives."""
        entry, stock = state.catalog, state.stock
        lead, lead_sd = entry.lead_time_days_mean * DAY_MS, entry.lead_time_days_std * DAY_MS
        arriving = stock.first_expected_order(lead, lead_sd, now)
        return PricingContext(catalog=entry, current_price=current_price, competitors=state.competitors,
                              on_hand=stock.on_hand * share, now_ms=now, sku=sku, demand=demand,
                              period_ms=None if demand is None else demand.period_ms,
                              next_arrival_ms=stock.next_arrival_ms(lead, lead_sd, now),
                              open_order_age_ms=None if arriving is None else now - stock.ordered_at[arriving],
                              arriving_units=None if arriving is None else stock.open_orders[arriving] * share)

    def _stock_per_view(self, state: SkuState, now: int) -> float | None:
        """The stock a period until more arrives (``pacing_horizon_periods``) over the next period's
        views: what a segmented SKU's sales a view must fit in; None when nothing bounds the stock."""
        horizon = pacing_horizon_periods(self._context(state, now, None, state.sku, state.demand))
        views = state.demand.expected_views(1)[0]
        return None if horizon is None or views <= 0 else state.stock.on_hand / horizon / views

    def _reprice(self, state: SkuState, now: int, outputs: list, arm: str | None, policy: str,
                 periodic: bool = False) -> None:
        if self._rate_limited(state, now):
            return
        entry = state.catalog
        ctx = self._context(state, now, state.price, state.sku, state.demand)
        proposal = PRICING_POLICIES[policy](ctx, self.config.params)
        guarded = apply_guardrails(proposal.price, state.price, entry)
        unchanged = state.price is not None and abs(guarded.price - state.price) <= PRICE_TOLERANCE
        state.planning_price = proposal.planning_price(state.price if unchanged else guarded.price)
        if unchanged:
            return      # no change, no event
        outputs.append(self._price_change(state, now, policy, arm, periodic, None, state.price, guarded.price,
                                          proposal, guarded.reasons))
        state.price = guarded.price
        state.last_price_change_ms = now

    def _reprice_segments(self, state: SkuState, now: int, outputs: list, arm: str | None, policy: str,
                          periodic: bool = False) -> None:
        """A segmented SKU: a proposal per segment, fitted into the spread, then guarded one by one
        (``segments``: the spread is a hard rule)."""
        if self._rate_limited(state, now):
            return
        entry = state.catalog
        names = entry.segments
        segments = _segment_demand(state)
        shares = dict(zip(segments.names, segments.shares))
        old = {s: state.segment_prices.get(s, state.price) for s in names}
        # one posterior draw for the tick's decision on every segment (``SegmentDemand``); the covariance
        # is inverted once for the draw and every segment's audit figures
        cov = segments.covariance()
        theta = segments.draw(exploration_rng(self.config.params.seed, state.sku, now), cov)
        proposals = {}
        # the segment the competitors watch decides first; the others meet the competitor where it answers
        # that price, whatever they charge (with none named, any segment may be the lowest: all anticipate)
        watched = watched_segment(entry, old)
        competitor, bounds = _cheapest_in_stock(state), hard_bounds(entry)
        # the shared stock is paced per segment at its share of the units the segments would sell at one
        # shadow price of a unit (``SegmentedDemand.stock_shares``); baselines do not pace
        stock_shares = shares if policy not in DEMAND_PRICED else dict(zip(segments.names, segments.stock_shares(
            entry.unit_cost, candidate_prices(entry, None), competitor, theta, self._stock_per_view(state, now))))
        # the watched segment counts what its price's answer does for the others' sales (its proposal, and
        # the band below)
        watched_spillover = None if watched is None or competitor is None else AnswerSpillover(
            segments, watched, shares, entry.unit_cost, competitor, (bounds.low, bounds.high))
        for s in sorted(names, key=lambda name: name != watched):
            kink = None if watched is None or s == watched else AnswerToWatchedPrice(
                state.demand.competitor_kink, proposals[watched].price)
            spillover = watched_spillover if s == watched else None
            demand = SegmentDemand(state.demand, segments, s, theta, cov, competitor_kink=kink, spillover=spillover)
            ctx = self._context(state, now, old[s], f"{state.sku}/{s}", demand, stock_shares[s])
            proposals[s] = PRICING_POLICIES[policy](ctx, self.config.params)
        own = {s: p.price for s, p in proposals.items()}
        if policy in DEMAND_PRICED:
            # into the spread where the tick's draw says the segments earn most together, as the oracle
            # does with the truth; a band centred on the views-weighted mean of the proposals gives up
            # profit where the segments differ in conversion (``benchmarks/segments.sh`` prints how much)
            profit = {s: _segment_profit(segments, i, shares[s], entry.unit_cost, competitor, theta)
                      for i, s in enumerate(segments.names)}
            if watched_spillover is not None and self.config.params.anticipate_competitors:
                # the band counts what the watched price's answer does, as its proposal did; without it
                # the band sat where the follower's answer is ignored, pulling the watched price down
                profit[watched] = _answered_segment_profit(
                    segments, segments.names.index(watched), shares[watched], entry.unit_cost, competitor, theta,
                    state.demand.competitor_kink, watched_spillover)
            fitted, moved = best_band(own, profit, entry.max_segment_spread_pct, bounds.low,
                                      max(bounds.high, bounds.low))
        else:
            fitted, moved = fit_spread(own, shares, entry.max_segment_spread_pct)
        guarded = {s: apply_guardrails(fitted[s], old[s], entry) for s in names}
        if not spread_ok([g.price for g in guarded.values()], entry.max_segment_spread_pct):
            # fitted to the edge of the band, then rounded to whole cents a cent past it
            rounded = rounded_into_spread(guarded, old, lambda price, before: apply_guardrails(price, before, entry),
                                          entry.max_segment_spread_pct)
            moved = moved | {s for s in names if rounded[s] is not guarded[s]}
            guarded = rounded
        new = {s: g.price for s, g in guarded.items()}
        if not spread_ok(list(new.values()), entry.max_segment_spread_pct):
            # price points or old prices outside today's rules pulled them apart again: keep prices that
            # kept the spread, or when there are none (a first listing, a tighter catalogue), the default
            # segment's for all
            keep = all(old[s] is not None for s in names) and spread_ok(list(old.values()), entry.max_segment_spread_pct) \
                and all(abs(apply_guardrails(old[s], old[s], entry).price - old[s]) <= PRICE_TOLERANCE for s in names)
            new = dict(old) if keep else {s: new[names[0]] for s in names}
            moved = set(names)
        changed = False
        for s in names:
            known = state.segment_prices.get(s)
            if known is not None and abs(new[s] - known) <= PRICE_TOLERANCE:
                continue
            extra = guarded[s].reasons + ((SPREAD,) if s in moved else ())
            outputs.append(self._price_change(state, now, policy, arm, periodic, s, known, new[s], proposals[s],
                                              extra, {"segment_share": shares[s], "spread_fitted_price": fitted[s]}))
            state.segment_prices[s] = new[s]
            changed = True
        for s in list(state.segment_prices):
            if s not in names:          # a segment the catalogue no longer names
                del state.segment_prices[s]
        state.price = blended_price(state.segment_prices, shares)
        state.planning_price = blended_price(
            {s: proposals[s].planning_price(p) for s, p in state.segment_prices.items()}, shares)
        if changed:
            state.last_price_change_ms = now

    def _price_change(self, state: SkuState, now: int, policy: str, arm: str | None, periodic: bool,
                      segment: str | None, old_price: float | None, new_price: float, proposal,
                      guard_reasons: tuple[str, ...], more_inputs: dict | None = None) -> PriceChange:
        entry = state.catalog
        reasons = ([] if old_price is not None else ["initial-listing"]) + [
            proposal.reason, *proposal.more_reasons, *guard_reasons]
        inputs = {**proposal.inputs, "unit_cost": entry.unit_cost, "proposed_price": proposal.price,
                  "on_hand": state.stock.on_hand, **(more_inputs or {})}
        state.price_seq += 1
        return PriceChange(
            schema_version=SCHEMA_VERSION,
            event_id=deterministic_id("price-changes", state.sku, state.price_seq),
            sku=state.sku, event_time_ms=now, policy=policy,
            old_price=old_price, new_price=new_price, reasons=reasons, inputs=inputs,
            trigger="clock" if periodic else state.reprice_trigger[1],
            trigger_event_id=f"tick-{now}" if periodic else state.reprice_trigger[2] or "none", arm=arm,
            segment=segment,
        )

    def _restock_check(self, state: SkuState, now: int, competitor: float | None, outputs: list,
                       arm: str | None) -> None:
        if not state.stock_known:
            return      # ordering against an unknown shelf would guess; the inventory feed tells
        entry = state.catalog
        proposal = self._restock(entry, state.stock, state.demand, state.price, competitor)
        if proposal is None:
            return
        state.restock_seq += 1
        restock_id = deterministic_id("restock", state.sku, state.restock_seq)
        on_order_before, position_before = state.stock.on_order, state.stock.position
        outputs.append(RestockOrder(
            schema_version=SCHEMA_VERSION,
            event_id=deterministic_id("restock-orders", state.sku, state.restock_seq),
            restock_id=restock_id, sku=state.sku, event_time_ms=now,
            policy=self.config.restock_policy, quantity=proposal.quantity,
            reorder_point=proposal.reorder_point, order_up_to=proposal.order_up_to,
            safety_stock=proposal.safety_stock, inventory_position=position_before,
            on_hand=state.stock.on_hand, on_order=on_order_before,
            lead_time_days_mean=entry.lead_time_days_mean, service_level=entry.service_level,
            service_kind=entry.service_kind,
            reasons=list(proposal.reasons), lead_time_demand_mean=proposal.lead_time_demand_mean,
            lead_time_demand_sd=proposal.lead_time_demand_sd, arm=arm,
        ))
        state.stock.place(restock_id, proposal.quantity, now)


def _segment_profit(segments: SegmentedDemand, i: int, share: float, unit_cost: float,
                    competitor: float | None, theta):
    """Segment i's expected profit per view of the SKU at an array of prices, under the draw ``theta``."""
    return lambda prices: segments.profit_per_view(i, share, unit_cost, prices, competitor, theta)


def _answered_segment_profit(segments: SegmentedDemand, i: int, share: float, unit_cost: float,
                             competitor: float, theta, kink, spillover: AnswerSpillover):
    """The watched segment's expected profit per view of the SKU at an array of prices, as its proposal
    counts it: the follower settles where it answers each price (``kink``), and every other segment sells
    against that answer (``spillover``: their gain from it)."""
    def profit(prices):
        settled = kink.settled_competitor_price(competitor, prices)
        own = segments.profit_per_view(i, share, unit_cost, prices, settled, theta)
        return own if np.ndim(settled) == 0 else own + spillover.gain_per_view(settled, theta)
    return profit


def _count_segment(state: SkuState, segment: str | None, index: int, n: int) -> None:
    """Count a view (index 0) or units sold (1) for the event's segment, when the SKU is segmented. Before
    the SKU is listed, the count waits under no name (its entry may name segments: the default's then),
    so unlisted SKUs' state does not grow with the names their events carry."""
    if state.catalog is None:
        segment = ""
    elif not state.catalog.segments:
        return
    elif segment not in state.catalog.segments:
        segment = state.catalog.segments[0]         # no segment, or one the entry does not name: the default
    counts = state.segment_period.setdefault(segment, [0, 0])
    counts[index] += n


def _close_segment_counts(state: SkuState) -> dict[str, tuple[int, int]] | None:
    """The closed period's (views, units) per segment of a segmented SKU (None for the others); the
    counting starts afresh."""
    names = state.catalog.segments
    counted, state.segment_period = state.segment_period, {}
    if not names:
        state.segment_prices.clear()
        state.segment_demand = None
        return None
    out = {s: [0, 0] for s in names}
    for segment, (views, units) in counted.items():
        into = out[segment if segment in out else names[0]]
        into[0] += views
        into[1] += units
    return {s: (v, u) for s, (v, u) in out.items()}


def _segment_demand(state: SkuState) -> SegmentedDemand:
    """The segments' demand, made afresh from the SKU's pooled estimate when the catalogue names other
    segments than it was made for."""
    names = state.catalog.segments
    if state.segment_demand is None or state.segment_demand.names != list(names):
        state.segment_demand = SegmentedDemand.new(names, state.demand.elasticity)
    return state.segment_demand


def _cheapest_in_stock(state: SkuState) -> float | None:
    prices = [q.price for q in state.competitors.values() if q.in_stock]
    return min(prices) if prices else None


def _ask_for_price(state: SkuState, record) -> None:
    """Mark the SKU for repricing at the next tick; the latest asker (by event time, then id) is named."""
    trigger = (record.event_time_ms, record.TOPIC, record.event_id)
    if not state.reprice_pending or trigger > state.reprice_trigger:
        state.reprice_trigger = trigger
    state.reprice_pending = True


def _move_stock(stock: Stock, event: InventoryEvent) -> None:
    if event.kind == "receipt":
        stock.receive(event.quantity, event.restock_id)
    elif event.kind == "count":
        stock.count(event.quantity)
    else:
        stock.adjust(event.quantity)


def _record_dict(record) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
