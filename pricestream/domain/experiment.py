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
``theta`` fitted on both arms together, which leaves the difference's expectation alone.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from scipy import stats

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


def compare_arms(profit_per_day: Mapping[str, float], arms: Mapping[str, str], days: Mapping[str, int],
                 covariate: Mapping[str, float] | None = None, confidence: float = 0.95) -> dict:
    """Profit per SKU-day of each arm, the challenger's difference with its ``confidence`` interval, and
    the verdict.

    ``profit_per_day``: each SKU's mean profit per day over the experiment; ``arms``: its arm;
    ``days``: how many days it was observed (reported, and SKUs with none are left out);
    ``covariate``: its profit per day before the experiment, for the CUPED adjustment (optional).
    """
    skus = sorted(s for s in profit_per_day if days.get(s, 0) > 0 and arms.get(s) in (CHAMPION, CHALLENGER))
    y = {s: float(profit_per_day[s]) for s in skus}
    theta = 0.0
    if covariate is not None:
        skus = [s for s in skus if s in covariate]
        theta = _cuped_theta([y[s] for s in skus], [float(covariate[s]) for s in skus])
        x_mean = sum(covariate[s] for s in skus) / len(skus) if skus else 0.0
        y = {s: y[s] - theta * (covariate[s] - x_mean) for s in skus}
    groups = {arm: [y[s] for s in skus if arms[s] == arm] for arm in (CHAMPION, CHALLENGER)}
    raw = {arm: [float(profit_per_day[s]) for s in skus if arms[s] == arm] for arm in (CHAMPION, CHALLENGER)}
    summary = {arm: {"skus": len(values), "sku_days": sum(days[s] for s in skus if arms[s] == arm),
                     "profit_per_sku_day": _mean(raw[arm]),
                     "ci": _mean_interval(groups[arm], confidence)}
               for arm, values in groups.items()}
    difference = _welch(groups[CHALLENGER], groups[CHAMPION], confidence)
    champion_mean = _mean(raw[CHAMPION])
    if difference is None:
        verdict = "not enough SKUs in each arm (two at least)"
    elif difference["low"] > 0:
        verdict = "challenger earns more"
    elif difference["high"] < 0:
        verdict = "champion earns more"
    else:
        verdict = "no significant difference"
    return {
        "arms": summary,
        "difference": difference,           # challenger minus champion, profit per SKU-day
        "relative_difference": (None if difference is None or not champion_mean
                                else difference["estimate"] / champion_mean),
        "significant": difference is not None and (difference["low"] > 0 or difference["high"] < 0),
        "verdict": verdict,
        "confidence": confidence,
        "cuped_theta": theta if covariate is not None else None,
    }


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


def sku_profit_per_day(rows: Iterable[tuple[str, int, float]]) -> tuple[dict[str, float], dict[str, int]]:
    """From (sku, day, profit) rows: each SKU's mean profit per day, and its number of days."""
    totals: dict[str, float] = {}
    day_sets: dict[str, set] = {}
    for sku, day, profit in rows:
        totals[sku] = totals.get(sku, 0.0) + profit
        day_sets.setdefault(sku, set()).add(day)
    days = {s: len(d) for s, d in day_sets.items()}
    return {s: totals[s] / days[s] for s in totals}, days
