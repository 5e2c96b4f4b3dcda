"""Write the built-in scenarios (``scenarios/*.json``) from fixed seeds, so nobody types 20 SKUs by hand.

    python -m pricestream.simulator.make_scenarios          # rewrite the files
    python -m pricestream.simulator.make_scenarios --check  # exit 1 when a committed file differs

Deterministic: Python's ``random.Random`` with fixed seeds (its ``random()`` stream is stable across
Python versions) and the scenario's own ``view_rate`` to scale the view rates to a target total. A
test checks the committed files equal this script's output.

How the SKUs are made (``standard`` and ``shock``):

* constant-elasticity demand for most SKUs (elasticities spread over -1.2 .. -4), linear for a few;
  the purchase probability at the list price is a few percent;
* the list price is 25-50 % off the unconstrained optimum p* = cost e / (1 + e) (so pricing matters),
  and p* lies inside [min_price, max_price], except three SKUs where a bound binds on purpose (a max
  price below p*, a MAP above it, a margin floor above it) and one SKU with .99 price points;
* three competitors each, near the list price: two random walks with promotions and short
  out-of-stock spells, one reactive (undercuts our price now and then);
* stock for about two weeks of demand at the list price, lead times 2-10 days, and a fixed (s, S)
  rule: s covers lead-time demand at the service level, S - s is about the economic order quantity.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from statistics import NormalDist

from pricestream.simulator.scenario import BUILT_IN_DIR, scenario_from_dict

START_2024 = 1_704_067_200_000          # Monday 2024-01-01 00:00 UTC
HOURLY = 60
COMPETITOR_NAMES = ("bargainhub", "megamart", "quickcart")   # the last one reacts to our price


def _r(x: float, digits: int = 2) -> float:
    return round(float(x), digits)


def _price(x: float) -> float:
    """A shop-like price: whole currency units minus a cent above 10, cents below."""
    return round(x) - 0.01 if x >= 10 else _r(x)


def _fixed_rule(daily: float, lead: float, lead_std: float, service: float, order_cost: float,
               cost: float, holding: float) -> tuple[int, int]:
    """A fixed (s, S) rule: s = lead-time demand + safety stock, S - s ~ EOQ (3 to 30 days of demand)."""
    z = NormalDist().inv_cdf(service)
    sigma = math.sqrt(daily * lead + (daily * lead_std) ** 2)
    s = math.ceil(daily * lead + z * sigma)
    eoq = math.sqrt(2 * 365 * daily * order_cost / (holding * cost))
    q = min(max(eoq, 3 * daily, 1.0), max(30 * daily, 1.0))
    return s, s + max(1, math.ceil(q))


def _inventory(rng: random.Random, daily: float, cost: float, cover_days: float,
               lead_range: tuple[float, float]) -> dict:
    lead = _r(rng.uniform(*lead_range) * 2, 0) / 2           # half days
    lead_std = _r(0.25 * lead, 2)
    service = _r(rng.uniform(0.90, 0.98), 2)
    order_cost = _r(rng.uniform(10, 60), 0)
    s, big_s = _fixed_rule(daily, lead, lead_std, service, order_cost, cost, 0.25)
    return {
        "initial_on_hand": max(2, round(cover_days * daily)),
        "restock_enabled": True,
        "lead_time_days_mean": lead,
        "lead_time_days_std": lead_std,
        "service_level": service,
        "order_cost": order_cost,
        "holding_cost_rate": 0.25,
        "reorder_point": s,
        "order_up_to": big_s,
    }


def _competitors(rng: random.Random, around: float, count: int = 3, observe: tuple[int, ...] = (4, 6, 12),
                 reactive: bool = True) -> list[dict]:
    out = []
    for j in range(count):
        initial = _r(around * rng.uniform(0.9, 1.1))
        comp = {
            "name": COMPETITOR_NAMES[j],
            "initial_price": initial,
            "process": "random-walk",
            "volatility": _r(rng.uniform(0.01, 0.03), 3),
            "floor": _r(0.55 * initial),
            "ceiling": _r(1.6 * initial),
            "promo_probability_per_day": _r(rng.uniform(0.03, 0.08), 3),
            "promo_depth": _r(rng.uniform(0.10, 0.25), 2),
            "promo_days": rng.choice([1.0, 2.0, 3.0]),
            "out_of_stock_probability_per_day": _r(rng.uniform(0.01, 0.03), 3),
            "out_of_stock_days": rng.choice([0.5, 1.0, 1.5, 2.0]),
            "observe_every_periods": rng.choice(observe),
        }
        if reactive and j == count - 1:
            comp.update(process="reactive", floor=_r(0.7 * initial),
                        react_undercut=_r(rng.uniform(0.02, 0.05), 3),
                        react_probability=_r(rng.uniform(0.05, 0.2), 2))
        out.append(comp)
    return out


def _views(rng: random.Random, rate: float) -> dict:
    return {
        "rate_per_period": rate,
        "daily_amplitude": _r(rng.uniform(0.3, 0.6)),
        "peak_hour": rng.choice([18.0, 19.0, 19.5, 20.0, 20.5, 21.0]),
        "weekly_amplitude": _r(rng.uniform(0.1, 0.3)),
        "peak_weekday": rng.choice([4, 5, 6]),
        "trend_per_day": _r(rng.uniform(-0.002, 0.004), 4),
    }


def _standard_sku(rng: random.Random, sku: str, elasticity: float, linear: bool, bound: str | None) -> dict:
    """One SKU of the standard market (``bound``: which rule, if any, binds below the optimum)."""
    cost = _r(math.exp(rng.uniform(math.log(3), math.log(80))))
    q0 = _r(rng.uniform(0.02, 0.05), 4)                       # purchase probability at the list price
    e = elasticity
    min_margin = _r(rng.uniform(0.05, 0.15))
    off = rng.choice([-1, 1]) * rng.uniform(0.25, 0.50)      # list price this far from the optimum
    if linear:
        # q = q0 at p = list with point elasticity e there: slope = -e q0 / list
        list_price = _price(cost * rng.uniform(1.6, 2.4))
        for _ in range(10):
            p_star = (list_price * (1 - e) / -e + cost) / 2
            if abs(p_star / list_price - 1) >= 0.08:
                break
            list_price = _price(list_price * 1.15)
        slope = -e * q0 / list_price
        purchase = {
            "form": "linear", "reference_price": list_price,
            "intercept": _r(q0 + slope * list_price, 6), "slope": _r(slope, 8),
            "competitor_slope": _r(slope * rng.uniform(0.3, 0.6), 8),
        }
    else:
        p_star = cost * e / (1 + e)
        if p_star * (1 + off) < 1.1 * cost * (1 + min_margin):
            off = abs(off)                                    # no list price at or below the margin floor
        list_price = _price(p_star * (1 + off))
        purchase = {
            "form": "constant-elasticity", "reference_price": list_price, "base_probability": q0,
            "elasticity": e, "competitor_elasticity": _r(rng.uniform(0.5, 1.5)),
        }
    low_ref, high_ref = min(p_star, list_price), max(p_star, list_price)
    spec = {
        "sku": sku,
        "unit_cost": cost,
        "list_price": list_price,
        "min_price": _r(max(cost * (1 + min_margin) + 0.01, 0.6 * low_ref)),
        "max_price": _r(1.5 * high_ref),
    }
    if bound == "max-price":                  # the cap sits below the optimum
        spec["list_price"] = purchase["reference_price"] = _price(0.85 * p_star)
        spec["max_price"] = _r(0.9 * p_star)
    elif bound == "map":                      # the brand's MAP sits above the optimum
        spec["map_price"] = _r(1.1 * p_star)
        spec["list_price"] = purchase["reference_price"] = _price(1.25 * p_star)
        spec["max_price"] = _r(1.6 * p_star)
    elif bound == "margin-floor":             # the margin floor sits above the optimum
        min_margin = _r(1.1 * p_star / cost - 1 + 0.01, 3)
        spec["list_price"] = purchase["reference_price"] = _price(1.3 * p_star)
        spec["max_price"] = _r(1.8 * p_star)
    elif bound == "price-points":             # only .99 prices, a ladder around the optimum
        spec["price_points"] = sorted({_price(p_star * f) for f in (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5)})
        spec["list_price"] = purchase["reference_price"] = min(spec["price_points"],
                                                               key=lambda p: abs(p - 1.2 * p_star))
        spec["min_price"] = _r(min(spec["min_price"], spec["price_points"][0]))
        spec["max_price"] = _r(max(spec["max_price"], spec["price_points"][-1]))
    list_price = spec["list_price"]
    spec.update(views=None, purchase=purchase, inventory=None,
                competitors=_competitors(rng, list_price), min_margin=min_margin,
                # the ladder's rungs are 8-14 % apart: a 10 % step limit would freeze the price on one
                max_step_pct=0.15 if bound == "price-points" else 0.1, min_change_interval_s=3600)
    spec["_q0"] = q0 if not linear else purchase["intercept"] - purchase["slope"] * list_price
    return spec


def _finish(rng: random.Random, specs: list[dict], raw_rates: list[float], total_views: float,
            scenario: dict, cover_days: float, lead_range: tuple[float, float]) -> dict:
    """Scale the view rates so the horizon's expected views total ``total_views``, then size stock."""
    from pricestream.simulator.demand import view_rate

    for spec, raw in zip(specs, raw_rates):
        spec["views"] = _views(rng, raw)
    draft = scenario_from_dict({**scenario, "skus": [_draft(s) for s in specs]})
    total = sum(view_rate(sku, draft.period_start(t), draft.period_ms, draft.start_time_ms)
                for sku in draft.skus for t in range(draft.periods))
    scale = total_views / total
    for spec in specs:
        rate = _r(spec["views"]["rate_per_period"] * scale, 3)
        spec["views"]["rate_per_period"] = rate
        daily = rate * (24 * 60 / scenario["period_minutes"]) * spec.pop("_q0")
        spec["inventory"] = _inventory(rng, daily, spec["unit_cost"], cover_days, lead_range)
    return {**scenario, "skus": specs}


def _draft(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if not k.startswith("_")} | {
        "inventory": {"initial_on_hand": 0}}


def _market(name: str, description: str, seed: int, days: int, n_skus: int, total_views: float,
            shocks: list[dict], linear: set[int] | None = None) -> dict:
    """``linear``: the SKUs (by index) whose purchase form is linear (default: four of 20, two of fewer)."""
    rng = random.Random(seed)
    elasticities = [_r(-1.2 - 2.8 * i / (n_skus - 1)) for i in range(n_skus)]
    rng.shuffle(elasticities)
    if linear is None:
        linear = {3, 8, 13, 18} if n_skus >= 20 else {3, 6}
    bounds = {5: "max-price", 11: "map", 16: "margin-floor", 7: "price-points"} if n_skus >= 20 else {5: "map"}
    prefix = name[:3].upper()
    specs = [_standard_sku(rng, f"{prefix}-{i + 1:02d}", elasticities[i], i in linear, bounds.get(i))
             for i in range(n_skus)]
    for spec in specs:
        spec["shocks"] = [dict(s) for s in shocks]
    raw_rates = [math.exp(rng.uniform(math.log(2), math.log(12))) for _ in specs]
    scenario = {"name": name, "description": description, "seed": seed, "start_time_ms": START_2024,
                "period_minutes": HOURLY, "periods": days * 24, "oracle": "unlimited-stock"}
    return _finish(rng, specs, raw_rates, total_views, scenario, cover_days=14, lead_range=(2, 10))


def standard() -> dict:
    return _market(
        "standard",
        "20 SKUs, 90 days of hourly periods. Elasticities from -1.2 to -4 (constant elasticity, four "
        "linear), daily and weekly seasonality, small trends; three competitors each (random walks with "
        "promotions and short out-of-stocks, one reactive); list prices 25-50 % off the optimum; about "
        "250k expected views in all, a few units a day per SKU; two weeks of stock, lead times 2-10 days, "
        "restocking on. Made by pricestream/simulator/make_scenarios.py.",
        seed=20240101, days=90, n_skus=20, total_views=250_000, shocks=[])


def experiment() -> dict:
    return _market(
        "experiment",
        "80 SKUs, 42 days of hourly periods, made like standard: for champion/challenger experiments, "
        "whose unit is the SKU (20 SKUs split in two are too few to tell policies about 15 % apart). Run "
        "with a pre-period: simulate --challenger P --experiment-start-day 14. About 470k expected views "
        "in all. Made by pricestream/simulator/make_scenarios.py.",
        seed=20240404, days=42, n_skus=80, total_views=470_000, shocks=[])


def holidays() -> dict:
    """``standard``'s market over 70 days with a calendar the shop publishes ahead: public holidays that
    recur (learned from the first), a sale with the shop's own guess of its lift, a gift season and a
    flash sale on a quarter of the catalogue. Each SKU's true lift of each effect is the entry's times
    a lognormal factor (sd 0.25 in the log): SKUs differ, as the pooled prior allows for."""
    seed = 20240505
    data = _market(
        "holidays",
        "20 SKUs, 70 days of hourly periods, made like standard, with a calendar published ahead: a public "
        "holiday on days 12, 33 and 54 (views x 1.6, no guess given), a spring sale on days 20-23 (x 1.8; the "
        "shop guesses 1.6), a gift season on days 40-47 (x 2.2; guessed 2.0) and a flash sale on days 60-62 "
        "for five SKUs (x 2.5; guessed 2.0, published on day 50). Each SKU's true lift varies around the "
        "entry's (lognormal, sd 0.25). About 200k expected views before the lifts. Made by "
        "pricestream/simulator/make_scenarios.py.",
        seed=seed, days=70, n_skus=20, total_views=200_000, shocks=[])
    skus = [spec["sku"] for spec in data["skus"]]
    calendar = [
        *({"calendar_id": f"public-holiday-{day}", "effect": "public-holiday", "kind": "holiday",
           "start_day": float(day), "end_day": float(day + 1), "lift": 1.6} for day in (12, 33, 54)),
        {"calendar_id": "spring-sale", "effect": "spring-sale", "kind": "campaign", "start_day": 20.0,
         "end_day": 23.0, "lift": 1.8, "publish_day": 5.0, "expected_lift": 1.6},
        {"calendar_id": "gift-season", "effect": "gift-season", "kind": "holiday", "start_day": 40.0,
         "end_day": 47.0, "lift": 2.2, "expected_lift": 2.0},
        {"calendar_id": "flash-sale", "effect": "flash-sale", "kind": "campaign", "start_day": 60.0,
         "end_day": 62.0, "lift": 2.5, "publish_day": 50.0, "expected_lift": 2.0, "skus": skus[::4]},
    ]
    rng = random.Random(seed + 1)
    effects = {e["effect"]: e["lift"] for e in calendar}
    for spec in data["skus"]:
        spec["views"]["calendar_lifts"] = [{"effect": name, "lift": _r(lift * math.exp(rng.gauss(0.0, 0.25)), 3)}
                                           for name, lift in effects.items()]
    return {**data, "calendar": calendar}


SEGMENTS = (  # name, share of views, elasticity's distance from -1 and base conversion and competitor
    # sensitivity relative to the SKU's: app users are loyal, marketplace shoppers compare
    ("web", 0.5, 1.0, 1.0, 1.0),
    ("app", 0.3, 0.5, 1.3, 0.6),
    ("marketplace", 0.2, 2.0, 0.55, 1.6),
)


def segmented() -> dict:
    """``standard``'s market, sold through three channels whose buyers differ. Every SKU buys by the
    constant-elasticity form (what a segment's demand is made of); all are segmented but the one whose
    brand sets a MAP, which its catalogue forbids. A segment's elasticity is the SKU's moved away from -1
    by its factor, so the channels' best prices differ by more than the catalogue's spread allows for
    some SKUs and by less for others."""
    data = _market(
        "segmented",
        "12 SKUs, 56 days of hourly periods, made like standard (constant elasticity only), sold through "
        "three channels: web (half the views, the SKU's elasticity), app (30 %, closer to -1: loyal buyers) "
        "and marketplace (20 %, further from -1 and more sensitive to competitors). Eleven SKUs are "
        "segmented with a 50 % spread limit; SEG-06, whose brand sets a MAP, is not (one price). Competitors "
        "watch the web price (the reacting one answers it). About 600k expected views in all: segments pay "
        "where there is volume to learn them. Made by pricestream/simulator/make_scenarios.py.",
        seed=20240606, days=56, n_skus=12, total_views=600_000, shocks=[], linear=set())
    for spec in data["skus"]:
        purchase = spec["purchase"]
        if spec.get("map_price") is not None:
            continue
        e, q0, ce = purchase["elasticity"], purchase["base_probability"], purchase["competitor_elasticity"]
        mean_q = sum(share * q for _, share, _, q, _ in SEGMENTS)
        spec["segments"] = [
            {"name": name, "view_share": share,
             "purchase": {**purchase, "elasticity": _r(-1.0 - (-1.0 - e) * far),
                          "base_probability": _r(q0 * q / mean_q, 4), "competitor_elasticity": _r(ce * cs)}}
            for name, share, far, q, cs in SEGMENTS]
        spec["max_segment_spread_pct"] = 0.5
        spec["watched_segment"] = "web"
    return data


def shock() -> dict:
    return _market(
        "shock",
        "8 SKUs, 60 days of hourly periods, made like standard, with two shocks on every SKU: a price war "
        "(all competitors at 0.75 x their normal price, days 25-35, still within their floors) and a "
        "demand spike (views x 2.5, days 40-45). About 70k expected views in all. Made by "
        "pricestream/simulator/make_scenarios.py.",
        seed=20240202, days=60, n_skus=8, total_views=70_000,
        shocks=[{"kind": "price-war", "start_day": 25.0, "end_day": 35.0, "competitor": None, "price_factor": 0.75},
                {"kind": "demand", "start_day": 40.0, "end_day": 45.0, "multiplier": 2.5}])


def slow_movers() -> dict:
    rng = random.Random(20240303)
    specs, raw_rates = [], []
    n = 10
    for i in range(n):
        cost = _r(math.exp(rng.uniform(math.log(40), math.log(300))))
        e = _r(-1.5 - 1.5 * i / (n - 1))
        p_star = cost * e / (1 + e)
        off = rng.choice([-1, 1]) * rng.uniform(0.12, 0.3)
        min_margin = _r(rng.uniform(0.05, 0.15))
        if p_star * (1 + off) < 1.1 * cost * (1 + min_margin):
            off = abs(off)
        list_price = _price(p_star * (1 + off))
        rate = _r(rng.uniform(0.5, 3.0), 3)
        daily_units = rng.uniform(0.1, 0.8)                   # at the list price
        q0 = _r(daily_units / (24 * rate), 5)
        spec = {
            "sku": f"SLOW-{i + 1:02d}",
            "unit_cost": cost,
            "list_price": list_price,
            "min_price": _r(max(cost * (1 + min_margin) + 0.01, 0.6 * min(p_star, list_price))),
            "max_price": _r(1.5 * max(p_star, list_price)),
            "views": None,
            "purchase": {"form": "constant-elasticity", "reference_price": list_price, "base_probability": q0,
                         "elasticity": e, "competitor_elasticity": _r(rng.uniform(0.3, 1.0))},
            "inventory": None,
            "competitors": _competitors(rng, list_price, count=2, observe=(24,), reactive=False),
            "min_margin": min_margin,
            "max_step_pct": 0.1,
            "min_change_interval_s": 3600,
            "_q0": q0,
        }
        specs.append(spec)
        raw_rates.append(rate)
    scenario = {
        "name": "slow-movers",
        "description": "10 slow-moving SKUs, 90 days of hourly periods: 0.5-3 views an hour and low "
                       "conversion, so intermittent demand below one unit a day at the list price (constant "
                       "elasticity -1.5 to -3, two competitors each, three to four weeks of stock, lead times "
                       "3-10 days). Made by pricestream/simulator/make_scenarios.py.",
        "seed": 20240303, "start_time_ms": START_2024, "period_minutes": HOURLY, "periods": 90 * 24,
        "oracle": "unlimited-stock",
    }
    return _finish_unscaled(rng, specs, raw_rates, scenario, cover_days=25, lead_range=(3, 10))


def _finish_unscaled(rng: random.Random, specs: list[dict], rates: list[float], scenario: dict,
                     cover_days: float, lead_range: tuple[float, float]) -> dict:
    for spec, rate in zip(specs, rates):
        spec["views"] = _views(rng, rate)
        daily = rate * (24 * 60 / scenario["period_minutes"]) * spec.pop("_q0")
        spec["inventory"] = _inventory(rng, daily, spec["unit_cost"], cover_days, lead_range)
    return {**scenario, "skus": specs}


def ferreira2018() -> dict:
    prices = [29.9, 34.9, 39.9, 44.9]
    return {
        "name": "ferreira2018",
        "description": "The single-product instance of Ferreira, Simchi-Levi & Wang (2018), 'Online network "
                       "revenue management using Thompson sampling': one customer per period, four prices "
                       "29.9/34.9/39.9/44.9 bought with probability 0.8/0.6/0.3/0.1, stock 0.25 x T and no "
                       "restocking. T = 500 here (runs use 2000). The paper maximises revenue: the unit cost "
                       "is 1e-6 only because a catalog entry needs a positive cost (it moves the fluid bound "
                       "of 10.1 per period by 2.5e-7). The oracle is the fluid LP bound.",
        "seed": 2018,
        "start_time_ms": START_2024,
        "period_minutes": HOURLY,
        "periods": 500,
        "oracle": "fluid-lp",
        "skus": [{
            "sku": "FSW-1",
            "unit_cost": 1e-6,
            "list_price": 34.9,
            "min_price": 29.9,
            "max_price": 44.9,
            "views": {"rate_per_period": 1.0, "deterministic": True},
            "purchase": {"form": "table", "prices": prices, "probabilities": [0.8, 0.6, 0.3, 0.1]},
            "inventory": {"initial_on_hand": 125, "initial_on_hand_per_period": 0.25, "restock_enabled": False,
                          "lead_time_days_mean": 0.0, "lead_time_days_std": 0.0, "order_cost": 0.0,
                          "holding_cost_rate": 0.0},
            "price_points": prices,
            "min_margin": 0.0,
            "max_step_pct": 1.0,
            "min_change_interval_s": 0,
        }],
    }


BUILDERS = {"standard": standard, "slow-movers": slow_movers, "shock": shock, "ferreira2018": ferreira2018,
            "experiment": experiment, "holidays": holidays, "segmented": segmented}


def render(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """File name -> the text the built-in scenario file must have."""
    return {f"{name}.json": render(build()) for name, build in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the committed files are current")
    args = parser.parse_args(argv)
    stale = []
    for file_name, text in build_all().items():
        path = BUILT_IN_DIR / file_name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(file_name)
        if not args.check:
            BUILT_IN_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(f"stale scenario files: {', '.join(stale)} (run python -m pricestream.simulator.make_scenarios)",
              file=sys.stderr)
        return 1
    for file_name in stale:
        print(f"wrote {BUILT_IN_DIR / file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
