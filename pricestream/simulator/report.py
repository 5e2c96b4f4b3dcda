"""The simulation report: per SKU and in total, against the oracle; JSON and a printed table."""

from __future__ import annotations

import math
import statistics
import zlib

import numpy as np

from pricestream.domain.learned_restock import order_quantity, reorder_point_for
from pricestream.domain.replenishment import lead_time_demand
from pricestream.simulator.demand import purchase_probability
from pricestream.simulator.market import Market, safe_ratio
from pricestream.simulator.scenario import DAY_MS, Scenario

PRICE_VARIED_LOG_STD = 0.02     # our price moved by about 2 % or more over the run
IDENTIFIED_SD = 0.3 / 1.96      # an elasticity known to within 0.3 at 95 %

TOP_LEVEL_KEYS = ("profit_ratio", "fill_rate", "profit", "oracle_profit", "avg_on_hand", "stockout_periods",
                  "price_changes", "restock_orders", "per_sku")


def build_report(scenario: Scenario, market: Market, seed: int | None) -> dict:
    per_sku = {}
    for sku, m in market.skus.items():
        b = m.books
        per_sku[sku] = {
            "profit": b.expected_profit, "oracle_profit": b.oracle_profit,
            "profit_ratio": safe_ratio(b.expected_profit, b.oracle_profit),
            "oracle_given_prices_profit": b.oracle_given_prices_profit,
            "realised_profit": b.realised_profit, "revenue": b.revenue,
            "holding_cost": b.holding_cost, "ordering_cost": b.ordering_cost,
            "net_profit": b.realised_profit - b.holding_cost - b.ordering_cost,
            "units_sold": b.units_sold, "units_demanded": b.units_demanded,
            "fill_rate": safe_ratio(b.units_sold, b.units_demanded),
            "service_level_target": m.spec.inventory.service_level,
            "stockout_periods": b.stockout_periods, "avg_on_hand": b.on_hand_sum / max(b.periods, 1),
            "price_changes": b.price_changes, "restock_orders": b.restock_orders,
            **_forecast_figures(b),
            **_elasticity_figures(m),
            **_informed_restock_figures(m.spec, b, scenario.period_ms),
            **_restock_forecast_figures(b, scenario.period_ms),
            **_peak_figures(b),
        }
    books = [m.books for m in market.skus.values()]
    profit = sum(b.expected_profit for b in books)
    oracle = sum(b.oracle_profit for b in books)
    sold, demanded = sum(b.units_sold for b in books), sum(b.units_demanded for b in books)
    periods = scenario.periods
    return {
        "scenario": scenario.name, "seed": market.seed if seed is None else seed, "periods": periods,
        "skus": len(per_sku),
        "profit_ratio": safe_ratio(profit, oracle),
        "fill_rate": safe_ratio(sold, demanded),
        "profit": profit, "oracle_profit": oracle,
        # the oracle that takes the competitor prices of this run as given, as if no competitor answered
        # its prices (``oracle.oracle_price_answered`` says why it is not the benchmark)
        "oracle_given_prices_profit": sum(b.oracle_given_prices_profit for b in books),
        "profit_ratio_given_prices": safe_ratio(profit, sum(b.oracle_given_prices_profit for b in books)),
        "profit_per_period": profit / periods if periods else None,
        "oracle_profit_per_period": oracle / periods if periods else None,
        "realised_profit": sum(b.realised_profit for b in books),
        "revenue": sum(b.revenue for b in books),
        "holding_cost": sum(b.holding_cost for b in books),
        "ordering_cost": sum(b.ordering_cost for b in books),
        "net_profit": sum(b.realised_profit - b.holding_cost - b.ordering_cost for b in books),
        "avg_on_hand": sum(b.on_hand_sum / max(b.periods, 1) for b in books),
        "stockout_periods": sum(b.stockout_periods for b in books),
        "price_changes": sum(b.price_changes for b in books),
        "restock_orders": sum(b.restock_orders for b in books),
        "forecast_mae": safe_ratio(sum(b.forecast_abs_error for b in books), sum(b.forecasts_scored for b in books)),
        "forecast_mae_floor": safe_ratio(sum(b.floor_abs_error for b in books), sum(b.forecasts_scored for b in books)),
        "forecast_mae_ratio": safe_ratio(sum(b.forecast_abs_error for b in books), sum(b.floor_abs_error for b in books)),
        "seasonal_naive_mae": safe_ratio(sum(b.naive_abs_error for b in books), sum(b.forecasts_scored for b in books)),
        "elasticity_within_0_3": _elasticity_summary(per_sku),
        # restocking: stock against the informed replay's, and the SKUs that fell short of their target
        "on_hand_vs_informed": safe_ratio(
            sum(r["avg_on_hand"] for r in per_sku.values() if r["informed_rq_on_hand"] is not None),
            sum(r["informed_rq_on_hand"] for r in per_sku.values() if r["informed_rq_on_hand"] is not None)),
        "skus_under_service_target": skus_under_target(per_sku, "fill_rate"),
        # the catalogue rules every emitted price was checked against (``rule_audit``): all zero when kept
        "rule_breaks": dict(market.rule_audit.breaks),
        **({"rule_break_examples": market.rule_audit.examples} if market.rule_audit.examples else {}),
        "restock_forecast_ratio": safe_ratio(sum(r["restock_forecast_units"] for r in per_sku.values()),
                                             sum(r["restock_true_units"] for r in per_sku.values())),
        **({"peaks": _peak_summary(books, per_sku)} if scenario.calendar else {}),
        "per_sku": per_sku,
    }


def skus_under_target(per_sku: dict, fill_key: str) -> list[str]:
    """The SKUs whose fill rate (``fill_key``: over the run, or in the peaks) fell short of their target."""
    return sorted(s for s, r in per_sku.items() if r.get(fill_key) is not None
                  and r[fill_key] < r["service_level_target"])


def _peak_figures(b) -> dict:
    """Forecasts and service in the periods a calendar entry lifted the SKU's views (none: no keys)."""
    if not b.peak_periods:
        return {}
    return {"peak_periods": b.peak_periods,
            "peak_forecast_mae": safe_ratio(b.peak_forecast_abs_error, b.peak_forecasts_scored),
            "peak_forecast_mae_floor": safe_ratio(b.peak_floor_abs_error, b.peak_forecasts_scored),
            "peak_forecast_error_vs_truth": safe_ratio(b.peak_truth_abs_error, b.peak_forecasts_scored),
            **_peak_daily(b.peak_days.values(), "peak_"),
            "peak_fill_rate": safe_ratio(b.peak_units_sold, b.peak_units_demanded)}


def _peak_daily(days, prefix: str = "") -> dict:
    """MAE of the peak periods' forecasts summed per SKU-day, and the true expected sales' (the floor)."""
    days = list(days)
    if not days:
        return {}
    return {f"{prefix}daily_forecast_mae": statistics.fmean(abs(f - s) for f, s, _ in days),
            f"{prefix}daily_forecast_mae_floor": statistics.fmean(abs(e - s) for _, s, e in days)}


def _peak_summary(books, per_sku: dict) -> dict:
    """Over all SKUs: the forecast MAE in peak periods (and the true expected demand's, the floor), the
    fill rate there, and the SKUs whose peak fill rate fell short of their service target."""
    scored = sum(b.peak_forecasts_scored for b in books)
    under = skus_under_target(per_sku, "peak_fill_rate")
    return {"periods": sum(b.peak_periods for b in books),
            "forecast_mae": safe_ratio(sum(b.peak_forecast_abs_error for b in books), scored),
            "forecast_mae_floor": safe_ratio(sum(b.peak_floor_abs_error for b in books), scored),
            "forecast_mae_ratio": safe_ratio(sum(b.peak_forecast_abs_error for b in books),
                                             sum(b.peak_floor_abs_error for b in books)),
            "forecast_error_vs_truth": safe_ratio(sum(b.peak_truth_abs_error for b in books), scored),
            # the lift the forecasts applied against the true calendar factor, in the log: mean (bias) and
            # mean absolute value
            "lift_log_error": safe_ratio(sum(b.peak_lift_log_error for b in books), scored),
            "lift_abs_log_error": safe_ratio(sum(b.peak_lift_abs_log_error for b in books), scored),
            **_peak_daily([d for b in books for d in b.peak_days.values()]),
            "fill_rate": safe_ratio(sum(b.peak_units_sold for b in books), sum(b.peak_units_demanded for b in books)),
            "skus_under_target": under}


def _forecast_figures(b) -> dict:
    return {"forecast_mae": safe_ratio(b.forecast_abs_error, b.forecasts_scored),
            "forecast_mae_floor": safe_ratio(b.floor_abs_error, b.forecasts_scored),
            "forecast_mae_ratio": safe_ratio(b.forecast_abs_error, b.floor_abs_error),
            "seasonal_naive_mae": safe_ratio(b.naive_abs_error, b.forecasts_scored)}


def _elasticity_figures(m) -> dict:
    last = m.books.last_forecast or {}
    prices = [p for p in m.books.price_path if p]
    varied = len(prices) > 1 and statistics.pstdev(math.log(p) for p in prices) >= PRICE_VARIED_LOG_STD
    return {"elasticity_estimate": last.get("elasticity"), "elasticity_sd": last.get("elasticity_sd"),
            "elasticity_true": true_elasticity(m.spec, prices, m.books.competitor_path),
            "elasticity_sd_floor": elasticity_sd_floor(m.spec, m.books),
            "identify_cost_share": identify_cost_share(m.spec, m.books),
            "price_varied": varied, "forecast_model": last.get("forecast_model")}


def elasticity_sd_floor(spec, b) -> float | None:
    """The smallest standard deviation any unbiased estimate of the elasticity could have from this run's
    sales, given the prices it charged: the Cramer-Rao bound of the log-log Poisson model
    (``domain.elasticity``) with the true expected demand of each period, the level and the competitor's
    cross-elasticity unknown, as the engine's are. Only our own price's variation, apart from the
    competitor's, identifies it: a price that stays put, or moves with the competitor, leaves it wide.
    Periods that began with an empty shelf are left out (their sales say nothing of the price). None for
    a segmented SKU, or when the prices never moved."""
    if spec.segments or not b.price_path:
        return None
    ref = spec.purchase.reference_price or spec.list_price
    rows = [(lam, math.log(p / ref), 0.0 if c is None else math.log(c / ref))
            for lam, p, c, stock in zip(b.demand_path, b.price_path, b.competitor_path, b.on_hand_path)
            if stock > 0 and lam > 0 and p > 0]
    if not rows:
        return None
    lam = np.array([r[0] for r in rows])
    x = np.array([[1.0, r[1], r[2]] for r in rows])
    if _weighted_variance(x[:, 1], lam) < 1e-12:
        return None           # our price never moved in the periods that count
    if _weighted_variance(x[:, 2], lam) < 1e-12:
        x = x[:, :2]          # a competitor that never moved (or none) confounds only the level
    information = (x * lam[:, None]).T @ x
    try:
        variance = float(np.linalg.inv(information)[1, 1])
    except np.linalg.LinAlgError:
        return None
    return math.sqrt(variance) if variance > 0 and math.isfinite(variance) else None


def true_elasticity(spec, prices: list[float], competitors: list) -> float | None:
    """The scenario's true price elasticity of demand; for linear demand, at the average price charged;
    None for a segmented SKU, whose segments each have their own (the SKU's estimate is their pool)."""
    purchase = spec.purchase
    if spec.segments:
        return None
    if purchase.form == "constant-elasticity":
        return purchase.elasticity
    if purchase.form == "linear" and prices:
        p = statistics.fmean(prices)
        seen = [c for c in competitors if c is not None]
        c = statistics.fmean(seen) if seen else None
        q = purchase_probability(purchase, p, c)
        return -purchase.slope * p / q if q > 0 else None
    return None


def _weighted_variance(values: np.ndarray, weights: np.ndarray) -> float:
    return float(np.average((values - np.average(values, weights=weights)) ** 2, weights=weights))


def identify_cost_share(spec, b) -> float | None:
    """About what share of its best profit a constant-elasticity SKU would give up to vary its price
    enough for the elasticity's Cramer-Rao floor to reach ``IDENTIFIED_SD`` over this run's units. The
    cheapest such variation is two prices d either side of the optimum in log, half the time each:
    log(price) then has variance d^2, which teaches units x d^2, so d = 1 / (IDENTIFIED_SD sqrt(units));
    with p* = cost e / (1 + e), the profit at p* e^x over its best is (k e^((1+e)x) - e^(ex)) / (k - 1),
    k = e / (1 + e). An optimistic figure: it assumes the variation is apart from the competitor's (what
    moves with it teaches less) and that the optimum is known to vary around.
    None for other demand forms, or e >= -1 (no interior optimum).

    >>> from types import SimpleNamespace as NS
    >>> spec = NS(segments=(), purchase=NS(form="constant-elasticity", elasticity=-2.0))
    >>> round(identify_cost_share(spec, NS(demand_path=[1.0] * 1000)), 4)     # 1000 units: d = 0.207
    0.0438
    """
    purchase = spec.purchase
    units = sum(b.demand_path)
    if spec.segments or purchase.form != "constant-elasticity" or purchase.elasticity >= -1.0 or units <= 0:
        return None
    e = purchase.elasticity
    k = e / (1.0 + e)
    d = 1.0 / (IDENTIFIED_SD * math.sqrt(units))

    def relative_profit(x: float) -> float:
        return (k * math.exp((1.0 + e) * x) - math.exp(e * x)) / (k - 1.0)
    return min(1.0, max(0.0, 1.0 - (relative_profit(d) + relative_profit(-d)) / 2.0))


def _elasticity_summary(per_sku: dict) -> dict:
    judged = {s: r for s, r in per_sku.items() if r["price_varied"] and r["elasticity_true"] is not None
              and r["elasticity_estimate"] is not None}
    within = [s for s, r in judged.items() if abs(r["elasticity_estimate"] - r["elasticity_true"]) <= 0.3]
    # an honest spread covers the truth about 95 % of the time at 1.96 posterior sd
    covered = [s for s, r in judged.items() if r["elasticity_sd"] is not None
               and abs(r["elasticity_estimate"] - r["elasticity_true"]) <= 1.96 * r["elasticity_sd"]]
    # the SKUs whose prices could teach the elasticity to within 0.3 at 95 %: an information floor of at
    # most 0.3 / 1.96 (``elasticity_sd_floor``); the others' prices did not vary enough for any estimate
    identifiable = [s for s, r in judged.items() if r.get("elasticity_sd_floor") is not None
                    and r["elasticity_sd_floor"] <= IDENTIFIED_SD]
    return {"skus_whose_price_varied": len(judged), "within": len(within),
            "share": safe_ratio(len(within), len(judged)),
            "covered_by_95pct_interval": len(covered), "coverage": safe_ratio(len(covered), len(judged)),
            "median_sd_floor": statistics.median(r["elasticity_sd_floor"] for r in judged.values())
            if judged and all(r.get("elasticity_sd_floor") is not None for r in judged.values()) else None,
            "identifiable": len(identifiable),
            "identifiable_within": sum(1 for s in identifiable if s in within),
            # what learning every judged SKU's elasticity that well would cost, weighted by the oracle's profit
            "identify_cost_share": safe_ratio(
                sum(r["identify_cost_share"] * r["oracle_profit"] for r in judged.values()
                    if r.get("identify_cost_share") is not None),
                sum(r["oracle_profit"] for r in judged.values() if r.get("identify_cost_share") is not None))}


def _fmt(x, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def format_report(report: dict, policy: str) -> str:
    lines = [f"scenario {report['scenario']}  policy {policy}  seed {report['seed']}  "
             f"{report['periods']} periods  {report['skus']} SKUs", "",
             f"{'sku':<12} {'profit':>11} {'oracle':>11} {'ratio':>6} {'fill':>6} {'stockouts':>9} "
             f"{'on hand':>8} {'prices':>6} {'restocks':>8}"]
    for sku, r in report["per_sku"].items():
        lines.append(f"{sku:<12} {_fmt(r['profit'], '11.1f')} {_fmt(r['oracle_profit'], '11.1f')} "
                     f"{_fmt(r['profit_ratio'], '6.3f')} {_fmt(r['fill_rate'], '6.3f')} {r['stockout_periods']:>9} "
                     f"{r['avg_on_hand']:8.1f} {r['price_changes']:>6} {r['restock_orders']:>8}")
    r = report
    lines += ["", f"{'total':<12} {_fmt(r['profit'], '11.1f')} {_fmt(r['oracle_profit'], '11.1f')} "
                  f"{_fmt(r['profit_ratio'], '6.3f')} {_fmt(r['fill_rate'], '6.3f')} {r['stockout_periods']:>9} "
                  f"{r['avg_on_hand']:8.1f} {r['price_changes']:>6} {r['restock_orders']:>8}",
              f"realised profit {r['realised_profit']:.1f}, revenue {r['revenue']:.1f}, holding cost "
              f"{r['holding_cost']:.1f}, ordering cost {r['ordering_cost']:.1f}, net {r['net_profit']:.1f}"]
    if r.get("oracle_given_prices_profit") is not None and \
            abs(r["oracle_given_prices_profit"] - r["oracle_profit"]) > 1e-6 * max(1.0, abs(r["oracle_profit"])):
        lines.append(f"oracle taking this run's competitor prices as given (no competitor answering it): "
                     f"{r['oracle_given_prices_profit']:.1f}, ratio {_fmt(r['profit_ratio_given_prices'], '.3f')}")
    if r.get("forecast_mae") is not None:
        worst = max((v["forecast_mae_ratio"] for v in r["per_sku"].values() if v["forecast_mae_ratio"]), default=None)
        lines.append(f"forecast MAE {r['forecast_mae']:.4f} per period, {_fmt(r['forecast_mae_ratio'], '.3f')} x the "
                     f"true expected demand's (worst SKU {_fmt(worst, '.3f')} x); seasonal naive "
                     f"{_fmt(r['seasonal_naive_mae'], '.4f')}")
    peaks = r.get("peaks")
    if peaks and peaks["periods"]:
        daily = "" if peaks.get("daily_forecast_mae") is None else (
            f"; per SKU-day {peaks['daily_forecast_mae']:.3f} (floor {peaks['daily_forecast_mae_floor']:.3f})")
        lines.append(f"calendar peaks: {peaks['periods']} SKU-periods; forecast MAE there "
                     f"{_fmt(peaks['forecast_mae'], '.4f')} (true expected demand's {_fmt(peaks['forecast_mae_floor'], '.4f')}), "
                     f"mean distance from the true expected demand {_fmt(peaks['forecast_error_vs_truth'], '.4f')}{daily}; "
                     f"fill rate {_fmt(peaks['fill_rate'], '.3f')}; SKUs under their target there: "
                     f"{len(peaks['skus_under_target'])}")
    if r.get("on_hand_vs_informed") is not None:
        under = r["skus_under_service_target"]
        lines.append(f"stock on hand {r['on_hand_vs_informed']:.3f} x an informed (r, Q) replay's; "
                     f"SKUs under their service target: {len(under)}{' (' + ', '.join(under) + ')' if under else ''}")
    if r.get("restock_forecast_ratio") is not None:
        lines.append(f"restock orders planned for {r['restock_forecast_ratio']:.3f} x the true expected demand "
                     f"of their lead times")
    broken = {rule: n for rule, n in (r.get("rule_breaks") or {}).items() if n}
    lines.append("catalogue rules (guardrails, segment spread): every emitted price kept them" if not broken else
                 "catalogue rules BROKEN: " + ", ".join(f"{rule} {n} times" for rule, n in broken.items()))
    el = r.get("elasticity_within_0_3")
    if el and el["skus_whose_price_varied"]:
        lines.append(f"elasticity: {el['within']} of {el['skus_whose_price_varied']} SKUs whose price varied within "
                     f"0.3 of the truth; {el['covered_by_95pct_interval']} inside their 95 % interval")
        if el.get("median_sd_floor") is not None:
            lines.append(f"  the prices charged could teach it to within 0.3 (Cramer-Rao floor <= {IDENTIFIED_SD:.3f}) "
                         f"for {el['identifiable']} of them ({el['identifiable_within']} within); median floor "
                         f"{el['median_sd_floor']:.2f}")
        if el.get("identify_cost_share") is not None:
            lines.append(f"  prices varied enough to teach each to within 0.3 would cost about "
                         f"{100 * el['identify_cost_share']:.1f} % of the oracle's profit (an optimistic estimate)")
    if r.get("experiment"):
        lines.append(format_experiment(r["experiment"], policy))
    return "\n".join(lines)


def format_experiment(e: dict, champion: str) -> str:
    arms, d = e["arms"], e["difference"]
    names = {"champion": champion, "challenger": e["challenger_policy"]}
    parts = [f"{arm} {names[arm]}: {a['skus']} SKUs, {a['sku_days']} SKU-days, profit per SKU-day "
             f"{_fmt(a['profit_per_sku_day'], '.2f')}" for arm, a in arms.items()]
    lines = ["experiment: " + "; ".join(parts)]
    if d is not None:
        cuped = "" if e["cuped_theta"] is None else f" (CUPED on the {e['pre_period_days']} days before)"
        lines.append(f"  challenger - champion: {d['estimate']:+.2f} per SKU-day, {e['confidence']:.0%} interval "
                     f"[{d['low']:+.2f}, {d['high']:+.2f}], p {d['p_value']:.3f}{cuped}")
    rel = e.get("relative")
    if rel is not None:
        lines.append(f"  challenger's lift: {rel['estimate']:+.1%}, interval [{rel['low']:+.1%}, {rel['high']:+.1%}], "
                     f"p {rel['p_value']:.3f} (the verdict's)")
        if rel.get("detectable_lift") is not None:
            lines.append(f"  detectable: a lift of {rel['detectable_lift']:.1%} or more is found significant "
                         f"{rel['power']:.0%} of the time with these SKUs")
    lines.append(f"  verdict: {e['verdict']}")
    truth = e.get("truth")
    if truth is not None:
        lift = "n/a" if truth["lift"] is None else f"{truth['lift']:+.1%}"
        lines.append(f"  truth (each policy alone on every SKU): lift {lift}, winner {truth['winner'] or 'none'}; "
                     f"the verdict {'matches' if truth['verdict_matches'] else 'does not match'}")
    return "\n".join(lines)


def _restock_forecast_figures(b, period_ms: int) -> dict:
    """How the lead-time demand each restock order planned for compares with the true expected demand
    (at the prices charged) over the lead time and review period it covered, for the orders whose
    window ends inside the run: ``restock_forecast_ratio`` is the sum of the one over the other."""
    forecast = truth = 0.0
    for period, planned, lead_days in b.restock_forecasts:
        end = period + round(lead_days * DAY_MS / period_ms) + 1          # the lead time and one review period
        if end <= len(b.demand_path):
            forecast += planned
            truth += sum(b.demand_path[period:end])
    return {"restock_forecast_units": forecast, "restock_true_units": truth,
            "restock_forecast_ratio": safe_ratio(forecast, truth)}


def _informed_restock_figures(spec, b, period_ms: int) -> dict:
    """A perfectly informed (r, Q) policy replayed on the same demand: one that knows the true mean
    demand at the prices charged, with r and Q by the learned policy's own rule (the service target as
    a floor under the lost-margin service, Q the EOQ) fed with the truth instead of a forecast, facing
    the very units asked for each period, the same starting stock and lead times drawn from the
    catalogue's distribution. The learned policy's average on hand is compared with this replay's."""
    inv = spec.inventory
    if not inv.restock_enabled or not b.demand_path:
        return {"informed_rq_on_hand": None, "informed_rq_fill_rate": None, "on_hand_vs_informed": None}
    per_day = DAY_MS / period_ms
    daily = statistics.fmean(b.demand_path) * per_day
    mean, var = lead_time_demand(daily, daily, inv.lead_time_days_mean, inv.lead_time_days_std)
    entry = spec.catalog_entry(0, None)
    q = order_quantity(entry, daily)
    r = reorder_point_for(entry, mean, var, q, statistics.fmean(b.price_path), daily * 365)[0]
    rng = np.random.default_rng([zlib.crc32(spec.sku.encode()), len(b.demanded_path)])
    on_hand = float(spec.initial_on_hand(len(b.demanded_path)))
    arrivals: list[tuple[float, float]] = []          # (period it arrives in, units)
    on_hand_sum = sold = 0.0
    for t, demand in enumerate(b.demanded_path):
        on_hand += sum(units for when, units in arrivals if when <= t)
        arrivals = [(when, units) for when, units in arrivals if when > t]
        on_hand_sum += on_hand
        sold += min(demand, on_hand)
        on_hand = max(on_hand - demand, 0.0)        # lost sales, as in the market
        position = on_hand + sum(units for _, units in arrivals)
        if position <= r:
            lead = max(0.0, rng.normal(inv.lead_time_days_mean, inv.lead_time_days_std))
            arrivals.append((t + 1 + math.floor(lead * per_day), math.ceil(r + q - position)))
    informed = on_hand_sum / len(b.demanded_path)
    avg = b.on_hand_sum / max(b.periods, 1)
    demanded = sum(b.demanded_path)
    return {"informed_rq_on_hand": informed, "informed_rq_fill_rate": safe_ratio(sold, demanded),
            "on_hand_vs_informed": safe_ratio(avg, informed)}
