"""Champion/challenger: two pricing policies at once on disjoint SKU sets, and whether one earns more.

Assignment is by SKU, not by visitor: a SKU has one price at a time, so the SKU is the unit that gets a
treatment, and the unit the comparison counts. A stable hash of the SKU and the experiment's salt puts
it in an arm, the same on every worker and in every replay, and a SKU never changes arm during an
experiment (a new salt draws new arms).

The comparison (``compare_arms``) takes each SKU's mean profit per day over the experiment, so a SKU's
days, which share its demand and its policy's state, count as one observation, and compares the arms'
means with Welch's t interval. SKUs differ in scale far more than policies differ in profit, so a
pre-experiment covariate (each SKU's profit per day before the experiment, when one is given) takes that
variance out first, as CUPED does (Deng, Xu, Kohavi and Walker, 2013): ``y - theta (x - mean x)``, with
``theta`` fitted on both arms together, which leaves the difference's expectation alone. The verdict is
the relative one (on the logs of profit per day), since a policy's gain grows with a SKU's scale.

``ExperimentLedger`` keeps those figures from the events a shop sees (catalogue, orders, forecasts that
name arms): the simulator and ``pricestream experiment report`` both book through it.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import dataclass
from typing import Mapping

from scipy import stats

from schemas.records import CatalogEntry, DemandForecast, Order

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True, slots=True)
class Experiment:
    """The challenger's pricing policy and the share of SKUs it decides; the rest keep the champion."""
    challenger_policy: str
    challenger_share: float = 0.5
    salt: str = "pricestream"
    starts_at_ms: int = 0       # event time: before it, the champion decides every SKU (a pre-period)

    def __post_init__(self):
        if not 0.0 < self.challenger_share < 1.0:
            raise ValueError(f"the challenger's share must be between 0 and 1 (exclusive), not {self.challenger_share}")
        if not self.salt:
            raise ValueError("an experiment needs a salt (any non-empty text)")

    def arm(self, sku: str) -> str:
        return CHALLENGER if bucket(sku, self.salt) < self.challenger_share else CHAMPION

    def arm_at(self, sku: str, now_ms: int) -> str | None:
        """The SKU's arm at ``now_ms``: None before the experiment starts."""
        return self.arm(sku) if now_ms >= self.starts_at_ms else None


def bucket(sku: str, salt: str) -> float:
    """A SKU's place in [0, 1), uniform over SKUs and stable across processes and Python versions
    (Python's own ``hash`` of a string changes with every process).

    >>> bucket("STA-01", "pricestream") == bucket("STA-01", "pricestream")
    True
    >>> 0.0 <= bucket("STA-01", "a") < 1.0 and bucket("STA-01", "a") != bucket("STA-01", "b")
    True
    """
    digest = hashlib.sha256(f"{salt}\x00{sku}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


LOG_OFFSET_SHARE = 0.05     # of the mean profit per day: keeps a SKU that sold nothing on the log scale
POWER = 0.8                 # of the detectable lift a report gives beside its verdict


def compare_arms(profit_per_day: Mapping[str, float], arms: Mapping[str, str], days: Mapping[str, int],
                 covariate: Mapping[str, float] | None = None, confidence: float = 0.95) -> dict:
    """Profit per SKU-day of each arm, the challenger's difference with its ``confidence`` interval, and
    the verdict.

    ``profit_per_day``: each SKU's mean profit per day over the experiment; ``arms``: its arm;
    ``days``: how many days it was observed (reported, and SKUs with none are left out);
    ``covariate``: its profit per day before the experiment, for the CUPED adjustment (optional).

    Two differences: ``difference``, in profit per SKU-day, and ``relative``, the challenger's lift as
    a share, from the logs of each SKU's profit per day. A policy's gain grows with a SKU's scale, so
    on the log scale the SKUs' gains are alike and the interval is narrower: the verdict is the
    relative one (the absolute one where a profit is too negative for logs).
    """
    skus = sorted(s for s in profit_per_day if days.get(s, 0) > 0 and arms.get(s) in (CHAMPION, CHALLENGER))
    if covariate is not None:
        skus = [s for s in skus if s in covariate]
    y = {s: float(profit_per_day[s]) for s in skus}
    x = None if covariate is None else {s: float(covariate[s]) for s in skus}
    raw = {arm: [y[s] for s in skus if arms[s] == arm] for arm in (CHAMPION, CHALLENGER)}
    summary = {arm: {"skus": len(values), "sku_days": sum(days[s] for s in skus if arms[s] == arm),
                     "profit_per_sku_day": _mean(values), "ci": _mean_interval(values, confidence)}
               for arm, values in raw.items()}
    difference, theta = _adjusted_difference(y, x, skus, arms, confidence)
    relative = _relative_difference(y, x, skus, arms, confidence)
    judged = relative if relative is not None else difference
    if judged is None:
        verdict = "not enough SKUs in each arm (two at least)"
    elif judged["low"] > 0:
        verdict = "challenger earns more"
    elif judged["high"] < 0:
        verdict = "champion earns more"
    else:
        verdict = "no significant difference"
    return {
        "arms": summary,
        "difference": difference,           # challenger minus champion, profit per SKU-day
        "relative": relative,               # the challenger's lift: 0.1 is 10 % more profit per SKU-day
        "significant": verdict in ("challenger earns more", "champion earns more"),
        "verdict": verdict,
        "confidence": confidence,
        "cuped_theta": theta,
    }


def _adjusted_difference(y: dict, x: dict | None, skus: list, arms: Mapping, confidence: float):
    """Welch's interval for challenger minus champion of ``y``, after CUPED on ``x`` when given;
    and CUPED's theta (None without ``x``)."""
    theta = None
    if x is not None:
        theta = _cuped_theta([y[s] for s in skus], [x[s] for s in skus])
        x_mean = sum(x[s] for s in skus) / len(skus) if skus else 0.0
        y = {s: y[s] - theta * (x[s] - x_mean) for s in skus}
    groups = {arm: [y[s] for s in skus if arms[s] == arm] for arm in (CHAMPION, CHALLENGER)}
    return _welch(groups[CHALLENGER], groups[CHAMPION], confidence), theta


def _relative_difference(y: dict, x: dict | None, skus: list, arms: Mapping, confidence: float) -> dict | None:
    """The challenger's lift (exp of the log-scale difference, minus 1) with its interval; None when a
    profit is below the offset's reach."""
    base = x if x is not None else y
    offset = LOG_OFFSET_SHARE * abs(sum(base.values()) / len(base)) if base else 0.0
    values = list(y.values()) + (list(x.values()) if x is not None else [])
    if not values or offset <= 0 or min(values) + offset <= 0:
        return None
    log_y = {s: math.log(y[s] + offset) for s in skus}
    log_x = None if x is None else {s: math.log(x[s] + offset) for s in skus}
    d, _ = _adjusted_difference(log_y, log_x, skus, arms, confidence)
    if d is None:
        return None
    return {"estimate": math.expm1(d["estimate"]), "low": math.expm1(d["low"]), "high": math.expm1(d["high"]),
            "p_value": d["p_value"], "log_offset": offset,
            "detectable_lift": detectable_lift(d["se"], d["df"], confidence), "power": POWER}


def detectable_lift(se: float, df: float | None, confidence: float, power: float = POWER) -> float | None:
    """The smallest lift the comparison finds significant with probability ``power``, from the
    log-scale difference's standard error and degrees of freedom: (t_(1 - alpha/2) + t_power) x se, as a
    share. A "no significant difference" is only as strong as this: with 20 SKUs and a 15 % lift whose
    size differs from SKU to SKU, it can be larger than the lift.

    >>> round(detectable_lift(0.05, 18.0, 0.95), 3)      # (2.101 + 0.862) x 0.05 on the log scale
    0.16
    """
    if df is None:
        return None
    return math.expm1((float(stats.t.ppf(0.5 + confidence / 2, df)) + float(stats.t.ppf(power, df))) * se)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _variance(values: list[float]) -> float:
    m = sum(values) / len(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def _cuped_theta(y: list[float], x: list[float]) -> float:
    if len(x) < 2:
        return 0.0
    mx, my = sum(x) / len(x), sum(y) / len(y)
    var_x = sum((v - mx) ** 2 for v in x)
    return 0.0 if var_x == 0 else sum((a - mx) * (b - my) for a, b in zip(x, y)) / var_x


def _mean_interval(values: list[float], confidence: float) -> list[float] | None:
    if len(values) < 2:
        return None
    m, se = _mean(values), math.sqrt(_variance(values) / len(values))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * se
    return [m - half, m + half]


def _welch(a: list[float], b: list[float], confidence: float) -> dict | None:
    """Welch's interval for mean(a) - mean(b), and its two-sided p-value."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = _variance(a) / len(a), _variance(b) / len(b)
    estimate = _mean(a) - _mean(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return {"estimate": estimate, "low": estimate, "high": estimate, "se": 0.0, "df": None,
                "p_value": 0.0 if estimate else 1.0}
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se         # plain floats: the report is JSON
    p_value = float(2 * stats.t.sf(abs(estimate) / se, df))
    return {"estimate": estimate, "low": estimate - half, "high": estimate + half, "se": se, "df": df,
            "p_value": p_value}


class ExperimentLedger:
    """An experiment's books, kept from the events a shop sees: catalogue entries (unit cost), orders
    (units and price paid) and the engine's demand forecasts (one per SKU and tick, naming its arm).
    The simulator feeds it what it exchanged with the engine, ``pricestream experiment report`` what it
    reads from the topics: one calculation for both.

    A SKU's realised profit is margin times units, at the unit cost of the catalogue entry in force
    when the order was placed; an order repeated with the same ``event_id`` counts once. Orders placed
    from ``starts_at_ms`` on count for the experiment, those before for the pre-period; a SKU's days in
    each are the days its ticks span (a day without sales is a day of zero profit)."""

    def __init__(self, starts_at_ms: int | None = None):
        self.starts_at_ms = starts_at_ms      # None: the first tick that named an arm
        self._costs: dict[str, list[tuple[int, float]]] = {}
        self._orders: dict[str, tuple[str, int, int, float]] = {}        # event_id -> (sku, time, units, price)
        self._ticks: dict[str, list[int]] = {}                           # sku -> [first tick, last tick]
        self._arms: dict[str, tuple[int, str]] = {}                      # sku -> (latest tick, its arm then)
        self._arm_first: dict[str, tuple[int, str]] = {}                 # sku -> (first tick with an arm, it)
        self.skus_with_two_arms: set[str] = set()

    def input(self, record) -> None:
        """An input record as the engine gets it: catalogue entries and orders count, the rest not."""
        if isinstance(record, CatalogEntry):
            self.catalog(record.sku, record.event_time_ms, record.unit_cost)
        elif isinstance(record, Order):
            self.order(record.event_id, record.sku, record.event_time_ms, record.quantity, record.unit_price)

    def decision(self, topic: str, event: Mapping) -> None:
        """A decision event as the engine writes it (decoded JSON): its forecasts count."""
        if topic == DemandForecast.TOPIC:
            self.forecast(event["sku"], event["event_time_ms"], event.get("arm"))

    def catalog(self, sku: str, event_time_ms: int, unit_cost: float) -> None:
        self._costs.setdefault(sku, []).append((event_time_ms, unit_cost))

    def order(self, event_id: str, sku: str, event_time_ms: int, quantity: int, unit_price: float) -> None:
        self._orders[event_id] = (sku, event_time_ms, quantity, unit_price)

    def forecast(self, sku: str, event_time_ms: int, arm: str | None) -> None:
        span = self._ticks.setdefault(sku, [event_time_ms, event_time_ms])
        span[0], span[1] = min(span[0], event_time_ms), max(span[1], event_time_ms)
        if arm is not None:
            known = self._arms.get(sku)
            if known is not None and known[1] != arm:
                self.skus_with_two_arms.add(sku)
            if known is None or event_time_ms >= known[0]:
                self._arms[sku] = (event_time_ms, arm)
            first = self._arm_first.get(sku)
            if first is None or event_time_ms < first[0]:
                self._arm_first[sku] = (event_time_ms, arm)

    @staticmethod
    def _unit_cost(costs: tuple[list[int], list[float]] | None, at_ms: int) -> float | None:
        """The unit cost in force at ``at_ms``, from a SKU's entry times and costs in time order; before
        the first entry, the first."""
        if not costs:
            return None
        times, values = costs
        i = bisect.bisect_right(times, at_ms)
        return values[i - 1] if i else values[0]

    def start(self) -> int:
        """The experiment's start: as given, else the first tick that named an arm."""
        if self.starts_at_ms is not None:
            return self.starts_at_ms
        return min((t for t, _ in self._arm_first.values()), default=0)

    def profit_per_day(self) -> tuple[dict, dict, dict | None, dict]:
        """Per SKU: profit per day from the start on, its days, the same before the start (None
        without a pre-period), and its days."""
        start, day = self.start(), 86_400_000
        during: dict[str, float] = {}
        before: dict[str, float] = {}
        costs = {sku: tuple(map(list, zip(*sorted(entries)))) for sku, entries in self._costs.items()}  # once
        for sku, at, units, price in self._orders.values():
            cost = self._unit_cost(costs.get(sku), at)
            if cost is None:
                continue        # never listed: not the engine's to price
            book = during if at >= start else before
            book[sku] = book.get(sku, 0.0) + units * (price - cost)
        days_during = {sku: -(-(last - start) // day) for sku, (_, last) in self._ticks.items() if last > start}
        days_before = {sku: -(-(start - first) // day) for sku, (first, _) in self._ticks.items() if first < start}
        profit = {sku: during.get(sku, 0.0) / n for sku, n in days_during.items()}
        covariate = {sku: before.get(sku, 0.0) / n for sku, n in days_before.items()} or None
        return profit, days_during, covariate, days_before

    def compare(self, confidence: float = 0.95) -> dict:
        profit, days_during, covariate, days_before = self.profit_per_day()
        arms = {sku: arm for sku, (_, arm) in self._arms.items()}
        return {"starts_at_ms": self.start(), "pre_period_days": max(days_before.values(), default=0),
                **compare_arms(profit, arms, days_during, covariate, confidence),
                "skus_with_two_arms": sorted(self.skus_with_two_arms),
                "per_sku": {sku: {"arm": arms.get(sku), "profit_per_day": profit.get(sku),
                                  "days": days_during.get(sku, 0),
                                  "pre_period_profit_per_day": None if covariate is None else covariate.get(sku)}
                            for sku in sorted(set(profit) | set(arms))}}
