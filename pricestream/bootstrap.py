"""Initial demand models fitted from historical orders, so a worker on a known catalogue does not begin blind.

Pure fitting (pandas, statsmodels, numpy; no Kafka): ``bootstrap(path)`` reads an orders CSV and
returns one fit per SKU; ``Bootstrap.priors()`` turns them into the ``ModelPrior`` records that
``pricestream bootstrap`` publishes on ``model-priors``.

The orders CSV
--------------
A header row names the columns, in any order (other columns are ignored; names are case-insensitive):

- ``sku``: the SKU, as on the engine's topics (letters, digits and ``._:-``, at most 64 characters);
- ``event_time_ms``: when the order was placed, ms since the epoch (UTC); or, instead, ``time``: an
  ISO 8601 timestamp (UTC unless it carries an offset). With both, ``event_time_ms`` is used;
- ``quantity``: units ordered, a whole number from 1 to 100,000;
- ``unit_price``: the price paid per unit, above 0.

A missing column stops the run with an error naming it. A row that cannot be used (a wrong number of
fields, an invalid SKU, time, quantity or price) is skipped and counted by reason; a file without
one usable row is an error that gives those counts.

What is fitted, per SKU
-----------------------
Order lines are summed into periods (``period_minutes``, default 60, dividing a day; aligned to UTC)
from the SKU's first order to the end of the history (the last period with an order of any SKU). A
period without orders sold 0 units at the price last paid (forward fill).

- **Elasticity prior**: a Poisson GLM (statsmodels) of units per period on ``log(price / reference)``
  with hour-of-day and day-of-week effects; ``reference`` is the median price paid (per unit). Its
  standard error is the prior sd, floored at 0.25 and capped at 1.5. A SKU whose price never varied
  (log-price sd below 0.02), or whose fit fails or is less certain than the cap, gets the pooled
  elasticity instead: the precision-weighted mean of the fitted SKUs, with the spread of their
  elasticities as its sd (at least 1.0, at most 1.5; -2.0 and 1.5 when no SKU could be fitted).
- **Level**: mean units per period over the last four weeks of the history (the SKU's whole span if
  shorter).
- **Profiles**: daily (24 UTC hours; none for daily periods) and weekly (7 days, Monday first)
  multiplicative profiles, mean 1. Each slot's factor is ``(units + K) / (expected + K)`` with
  ``expected`` the units the slot would have sold without seasonality and ``K = 10`` units, so a SKU
  with little data stays near 1; then normalised to mean 1.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import statsmodels.api as sm

from pricestream.domain.engine import DEFAULT_PRIOR_ELASTICITY
from pricestream.domain.warm_start import DAY_MS, hour_of_day, weekday
from schemas.codec import deterministic_id
from schemas.records import MAX_PRICE, MAX_QUANTITY, SCHEMA_VERSION, ModelPrior

REQUIRED_COLUMNS = ("sku", "quantity", "unit_price")
TIME_COLUMNS = ("event_time_ms", "time")            # the first present is used
CHUNK_ROWS = 500_000
LEVEL_WINDOW_MS = 28 * DAY_MS
MIN_LOG_PRICE_STD = 0.02            # about 2 % of price movement: less identifies no elasticity
SD_FLOOR, SD_CAP = 0.25, 1.5
POOLED_SD_FLOOR = 1.0
PROFILE_PRIOR_UNITS = 10.0          # each profile slot starts with this many units of "no seasonality"
_CONSTRAINTS = {f.name: f.metadata["constraints"] for f in dataclasses.fields(ModelPrior)}
ELASTICITY_RANGE = (_CONSTRAINTS["elasticity"]["minimum"], _CONSTRAINTS["elasticity"]["maximum"])
_SKU_PATTERN = _CONSTRAINTS["sku"]["pattern"]
_SKU_MAX = _CONSTRAINTS["sku"]["maxLength"]

Progress = Callable[[str], None]


class BootstrapError(ValueError):
    """The orders file cannot be used; the message says why."""


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class ReadStats:
    rows: int = 0                                   # data rows in the file, usable or not
    used: int = 0
    malformed: Counter = field(default_factory=Counter)     # by reason

    @property
    def skipped(self) -> int:
        return sum(self.malformed.values())


@dataclass(frozen=True)
class SkuFit:
    sku: str
    orders: int                     # order lines
    units: int
    periods: int                    # periods from the first order to the end of the history
    reference_price: float
    price_log_std: float
    elasticity: float
    elasticity_sd: float
    pooled: bool                    # the pool's elasticity, not the SKU's own
    units_per_period: float
    daily_profile: list[float] | None
    weekly_profile: list[float] | None


@dataclass
class Bootstrap:
    fits: list[SkuFit]
    stats: ReadStats
    period_ms: int
    end_ms: int                     # end of the history: the end of its last period
    pooled_elasticity: float
    pooled_sd: float
    source: str

    def priors(self) -> list[ModelPrior]:
        return [ModelPrior(
            schema_version=SCHEMA_VERSION, event_id=deterministic_id("model-priors", f.sku, self.end_ms, self.source),
            sku=f.sku, event_time_ms=self.end_ms, elasticity=round(f.elasticity, 6),
            elasticity_sd=round(f.elasticity_sd, 6), reference_price=f.reference_price,
            units_per_period=round(f.units_per_period, 6), period_ms=self.period_ms,
            daily_profile=f.daily_profile, weekly_profile=f.weekly_profile, fitted_periods=f.periods,
            source=self.source) for f in self.fits]

    def summary(self) -> dict:
        fitted = sum(not f.pooled for f in self.fits)
        return {"source": self.source, "period_ms": self.period_ms, "end_ms": self.end_ms,
                "rows": self.stats.rows, "rows_used": self.stats.used, "rows_skipped": self.stats.skipped,
                "skipped_by_reason": dict(self.stats.malformed), "skus": len(self.fits), "skus_fitted": fitted,
                "skus_pooled": len(self.fits) - fitted, "pooled_elasticity": round(self.pooled_elasticity, 6),
                "pooled_elasticity_sd": round(self.pooled_sd, 6)}


def bootstrap(path: str | Path, period_minutes: int = 60, progress: Progress | None = to_stderr,
              progress_every: int = 100) -> Bootstrap:
    """Read the orders CSV at ``path`` and fit every SKU's prior (progress every ``progress_every`` SKUs)."""
    if period_minutes < 1 or 1440 % period_minutes:
        raise BootstrapError(f"the period ({period_minutes} minutes) must divide a day (1440 minutes)")
    period_ms = period_minutes * 60_000
    periods, prices, stats = read_orders(path, period_ms, progress)
    return fit(periods, prices, stats, period_ms, f"bootstrap:{Path(path).name}"[:256], progress, progress_every)


# -- reading -----------------------------------------------------------------------------------------
def read_orders(path: str | Path, period_ms: int, progress: Progress | None = None,
                chunk_rows: int = CHUNK_ROWS) -> tuple[pd.DataFrame, pd.DataFrame, ReadStats]:
    """The file's usable rows summed per (sku, period): ``units``, ``revenue``, ``lines``; and ``units``
    sold per (sku, unit_price), for the median price. Reads in chunks, so a long file fits in memory."""
    try:
        header = [c.strip().lower() for c in pd.read_csv(path, nrows=0).columns]
    except FileNotFoundError:
        raise BootstrapError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise BootstrapError(f"{path} is empty: want a header row and one order line per row") from None
    missing = [repr(c) for c in REQUIRED_COLUMNS if c not in header]
    time_column = next((c for c in TIME_COLUMNS if c in header), None)
    if time_column is None:
        missing.append(" or ".join(repr(c) for c in TIME_COLUMNS))
    if missing:
        raise BootstrapError(f"{path} has no column {', '.join(missing)} (its columns: {', '.join(header)})")
    stats = ReadStats()
    period_parts, price_parts = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            with pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk_rows,
                             on_bad_lines="warn") as reader:
                for chunk in reader:
                    chunk.columns = [c.strip().lower() for c in chunk.columns]
                    orders = _usable(chunk, time_column, stats)
                    orders["period"] = orders["t"] // period_ms
                    orders["revenue"] = orders["units"] * orders["unit_price"]
                    orders["lines"] = 1
                    period_parts.append(orders.groupby(["sku", "period"], sort=False)[["units", "revenue", "lines"]].sum())
                    price_parts.append(orders.groupby(["sku", "unit_price"], sort=False)["units"].sum())
                    if progress and stats.rows >= chunk_rows:
                        progress(f"read {stats.rows:,} rows")
        except pd.errors.ParserError as exc:
            raise BootstrapError(f"{path}: not a readable CSV file: {exc}") from None
    bad_lines = sum(str(w.message).count("Skipping line") for w in caught
                    if issubclass(w.category, pd.errors.ParserWarning))
    if bad_lines:
        stats.malformed["wrong number of fields"] += bad_lines
        stats.rows += bad_lines
    if not stats.used:
        reasons = ", ".join(f"{n} {reason}" for reason, n in stats.malformed.most_common()) or "no data rows"
        raise BootstrapError(f"{path}: none of its {stats.rows} rows is a usable order line ({reasons})")
    periods = pd.concat(period_parts).groupby(level=["sku", "period"]).sum().reset_index()
    prices = pd.concat(price_parts).groupby(level=["sku", "unit_price"]).sum().reset_index()
    return periods, prices, stats


def _usable(chunk: pd.DataFrame, time_column: str, stats: ReadStats) -> pd.DataFrame:
    """The chunk's usable rows as (sku, t, quantity, unit_price); the others counted by reason."""
    sku = chunk["sku"].str.strip()
    sku_ok = sku.str.fullmatch(_SKU_PATTERN) & (sku.str.len() <= _SKU_MAX)
    raw_time = chunk[time_column].str.strip()
    if time_column == "event_time_ms":
        t = pd.to_numeric(raw_time, errors="coerce")
        time_ok = t.notna() & (t >= 0) & (t == np.floor(t))
    else:
        stamp = pd.to_datetime(raw_time, utc=True, errors="coerce", format="ISO8601")
        t = (stamp - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
        time_ok = t.notna() & (t >= 0)
    quantity = pd.to_numeric(chunk["quantity"].str.strip(), errors="coerce")
    quantity_ok = quantity.notna() & (quantity == np.floor(quantity)) & (quantity >= 1) & (quantity <= MAX_QUANTITY)
    price = pd.to_numeric(chunk["unit_price"].str.strip(), errors="coerce")
    price_ok = price.notna() & np.isfinite(price) & (price > 0) & (price <= MAX_PRICE)
    checks = (("invalid sku", sku_ok), (f"invalid {time_column}", time_ok), ("invalid quantity", quantity_ok),
              ("invalid unit_price", price_ok))
    good = pd.Series(True, index=chunk.index)
    for reason, ok in checks:
        bad = int((good & ~ok).sum())
        if bad:
            stats.malformed[reason] += bad
        good &= ok
    stats.rows += len(chunk)
    stats.used += int(good.sum())
    return pd.DataFrame({"sku": sku[good], "t": t[good].astype("int64"), "units": quantity[good].astype("int64"),
                         "unit_price": price[good].astype(float)})


# -- fitting -----------------------------------------------------------------------------------------
def fit(periods: pd.DataFrame, prices: pd.DataFrame, stats: ReadStats, period_ms: int, source: str,
        progress: Progress | None = None, progress_every: int = 100) -> Bootstrap:
    end_period = int(periods["period"].max())
    units_by_price = {sku: g for sku, g in prices.groupby("sku", sort=False)}
    groups = periods.groupby("sku", sort=True)
    own: list[tuple[str, dict, tuple[float, float] | None]] = []
    for i, (sku, g) in enumerate(groups, start=1):
        own.append(_fit_sku(sku, g, units_by_price[sku], end_period, period_ms))
        if progress and i % progress_every == 0:
            progress(f"fitted {i:,} of {groups.ngroups:,} SKUs")
    estimates = [e for _, _, e in own if e is not None]
    pooled, pooled_sd = _pool(estimates)
    fits = []
    for sku, figures, estimate in own:
        e, sd = estimate or (pooled, pooled_sd)
        fits.append(SkuFit(sku=sku, elasticity=float(np.clip(e, *ELASTICITY_RANGE)),
                           elasticity_sd=float(np.clip(sd, SD_FLOOR, SD_CAP)), pooled=estimate is None, **figures))
    return Bootstrap(fits=fits, stats=stats, period_ms=period_ms, end_ms=(end_period + 1) * period_ms,
                     pooled_elasticity=pooled, pooled_sd=pooled_sd, source=source)


def _fit_sku(sku: str, g: pd.DataFrame, units_by_price: pd.DataFrame, end_period: int, period_ms: int):
    """(sku, the figures of its SkuFit but the elasticity, (elasticity, se) or None when not identified)."""
    first = int(g["period"].min())
    n = end_period - first + 1
    at = (g["period"].to_numpy() - first).astype(int)
    units = np.zeros(n)
    units[at] = g["units"].to_numpy()
    paid = np.full(n, np.nan)
    paid[at] = g["revenue"].to_numpy() / g["units"].to_numpy()
    last_paid = np.where(np.isnan(paid), 0, np.arange(n))
    price = paid[np.maximum.accumulate(last_paid)]          # a period without orders: the price last paid
    reference = weighted_median(units_by_price["unit_price"].to_numpy(), units_by_price["units"].to_numpy())
    starts = (first + np.arange(n)) * period_ms
    log_price = np.log(price / reference)
    log_std = float(log_price.std())
    estimate = _elasticity_glm(units, log_price, starts, period_ms) if log_std >= MIN_LOG_PRICE_STD else None
    window = max(1, LEVEL_WINDOW_MS // period_ms)
    figures = dict(orders=int(g["lines"].sum()), units=int(units.sum()), periods=n,
                   reference_price=round(float(reference), 6), price_log_std=log_std,
                   units_per_period=float(units[-window:].mean()),
                   daily_profile=profile(units, hour_of_day(starts), 24) if period_ms < DAY_MS else None,
                   weekly_profile=profile(units, weekday(starts), 7))
    return sku, figures, estimate


def _elasticity_glm(units: np.ndarray, log_price: np.ndarray, starts: np.ndarray,
                    period_ms: int) -> tuple[float, float] | None:
    """Poisson GLM of units on log relative price with hour-of-day and weekday effects: (e, its se),
    or None when the fit fails or says less than the widest prior would."""
    columns = [np.ones_like(log_price), log_price]
    slots = [weekday(starts)] + ([hour_of_day(starts)] if period_ms < DAY_MS else [])
    for slot in slots:
        present = np.unique(slot)
        columns += [(slot == level).astype(float) for level in present[1:]]    # the first level is the base
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.GLM(units, np.column_stack(columns), family=sm.families.Poisson()).fit()
        except (ValueError, np.linalg.LinAlgError):
            return None
    e, se = float(result.params[1]), float(result.bse[1])
    if not getattr(result, "converged", True) or not np.isfinite(e) or not np.isfinite(se) or se > SD_CAP:
        return None
    return e, se


def _pool(estimates: list[tuple[float, float]]) -> tuple[float, float]:
    """The precision-weighted mean elasticity of the fitted SKUs, and a wide sd: their spread, in [1.0, 1.5]."""
    if not estimates:
        return DEFAULT_PRIOR_ELASTICITY, SD_CAP
    e = np.array([x for x, _ in estimates])
    w = 1.0 / np.maximum([s for _, s in estimates], 1e-3) ** 2
    spread = float(e.std()) if len(e) > 1 else SD_CAP
    return float(np.sum(w * e) / np.sum(w)), float(np.clip(spread, POOLED_SD_FLOOR, SD_CAP))


def profile(units: np.ndarray, slot: np.ndarray, slots: int, prior_units: float = PROFILE_PRIOR_UNITS) -> list[float]:
    """Multiplicative profile over ``slots`` (mean 1), shrunk toward 1 by ``prior_units`` per slot.

    >>> profile(np.array([0., 4., 0., 4.]), np.array([0, 1, 0, 1]), 2, prior_units=0)
    [0.0, 2.0]
    """
    sold = np.bincount(slot, weights=units, minlength=slots)
    periods = np.bincount(slot, minlength=slots)
    expected = periods * units.sum() / max(len(units), 1)
    factor = (sold + prior_units) / np.maximum(expected + prior_units, 1e-12)
    factor = np.where(periods > 0, factor, 1.0)
    return [round(float(x), 4) for x in factor * slots / factor.sum()]


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The lower weighted median.

    >>> weighted_median(np.array([10.0, 12.0, 9.0]), np.array([1, 5, 1]))
    12.0
    """
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
