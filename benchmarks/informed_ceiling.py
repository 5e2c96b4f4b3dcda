"""What ``learned`` pricing earns when it knows each SKU's true elasticity and cross-elasticity from the
first period: how much of its shortfall from the oracle is the cost of learning them.

    .venv/bin/python benchmarks/informed_ceiling.py --scenario standard --seeds 20240101,20240102
    .venv/bin/python benchmarks/informed_ceiling.py --scenario segmented --seeds 20240606,20240607

For every SKU whose true demand has the constant-elasticity form (the engine's own model), the demand
model starts with its prior on (e, g) at the truth and a spread of ``--sd`` (0.05), so the reach is the
whole range and Thompson sampling hardly explores; the other SKUs (linear demand) learn as usual. Its
level (conversion at the list price), the views, the competitors' answers and the stock are learned as
in any run. A segmented SKU's segments start with their true levels and elasticities and their true
view shares, and the SKU's pooled model with the view-weighted elasticities (what the reach and
restocking read); the segments' one cross-elasticity is the view-weighted mean of theirs (the engine
has one per SKU; the truth has one per segment). Prints, per seed, the ratio to the oracle of this
run and of the same seed's ordinary ``learned`` run, and per SKU the regret of both. The offline shell; restocking ``learned`` in both.
"""

import argparse
import collections
import math

import numpy as np

from pricestream.domain import engine as engine_module
from pricestream.domain import segments as segments_module
from pricestream.domain.demand_model import DemandModel
from pricestream.settings import Settings
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import load_scenario
from streams.app import engine_config


def informed(close, truth: dict[str, tuple[float, float]], sd: float):
    """``Engine.close`` that makes a known SKU's demand model with its true (e, g) before its first tick."""
    def close_informed(self, state, *args, **kwargs):
        if state.demand is None and state.catalog is not None and state.sku in truth:
            state.demand = DemandModel.new(state.catalog.list_price)
            est = state.demand.elasticity
            for k, value in zip((1, 2), truth[state.sku]):
                est.mean[k] = est.prior_mean[k] = value
                est.precision[k][k] = est.prior_precision_diag[k] = 1.0 / sd ** 2
        return close(self, state, *args, **kwargs)
    return close_informed


def informed_segments(segment_demand, truth: dict, sd: float):
    """``engine._segment_demand`` that starts a known SKU's segments at their truth: ``truth[sku]`` maps a
    segment's name to its (view share, log conversion at the list price, elasticity, cross-elasticity)."""
    def segment_demand_informed(state):
        fresh = state.segment_demand is None or state.segment_demand.names != list(state.catalog.segments)
        segments = segment_demand(state)
        if fresh and state.sku in truth:
            known = [truth[state.sku][name] for name in segments.names]
            n = len(known)
            shares = [k[0] for k in known]
            shared_e = known[0][2]          # the model's e and each segment's deviation d_s from it
            mean = ([k[1] for k in known] + [shared_e] + [k[2] - shared_e for k in known]
                    + [sum(w * k[3] for w, k in zip(shares, known))])
            diag = [1.0 / sd ** 2] * (2 * n + 2)
            segments.mean, segments.prior_mean = list(mean), list(mean)
            segments.precision = np.diag(diag).tolist()
            segments.prior_precision_diag = diag
            segments.shares = shares
        return segments
    return segment_demand_informed


def known_truth(scenario) -> tuple[dict, dict]:
    """(sku -> (e, g)) for every constant-elasticity SKU, view-weighted for a segmented one, and
    (sku -> segment -> (share, level, e, g)) for the segmented ones whose segments all have that form."""
    truth, segment_truth = {}, {}
    for s in scenario.skus:
        if not s.segments:
            if s.purchase.form == "constant-elasticity":
                truth[s.sku] = (s.purchase.elasticity, s.purchase.competitor_elasticity)
            continue
        if any(seg.purchase.form != "constant-elasticity" for seg in s.segments):
            continue
        segment_truth[s.sku] = {}
        for seg in s.segments:
            p = seg.purchase
            # base (p / ref)^e (c / ref)^g, written around the list price as the engine's model is
            level = math.log(p.base_probability) + (p.elasticity + p.competitor_elasticity) * math.log(
                s.list_price / p.reference_price)
            segment_truth[s.sku][seg.name] = (seg.view_share, level, p.elasticity, p.competitor_elasticity)
        truth[s.sku] = tuple(sum(seg.view_share * getattr(seg.purchase, key) for seg in s.segments)
                             for key in ("elasticity", "competitor_elasticity"))
    return truth, segment_truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="standard")
    parser.add_argument("--seeds", default="20240101,20240102", help="comma-separated market seeds")
    parser.add_argument("--sd", type=float, default=0.05, help="prior spread of the known coefficients")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    scenario = load_scenario(args.scenario)
    truth, segment_truth = known_truth(scenario)
    settings = Settings.from_env(pricing_policy="learned", restock_policy="learned")
    plain_close, plain_segment_demand = engine_module.Engine.close, engine_module._segment_demand
    plain_deviation_sd = segments_module.deviation_prior_sd
    totals = {"learned": [0.0, 0.0], "informed": [0.0, 0.0]}
    per_sku = collections.defaultdict(lambda: {"learned": [0.0, 0.0], "informed": [0.0, 0.0]})
    print(f"{args.scenario}: {len(truth)} of {len(scenario.skus)} SKUs informed (sd {args.sd})", flush=True)
    for seed in seeds:
        line = [f"seed {seed}"]
        for run, close, segment_demand in (
                ("learned", plain_close, plain_segment_demand),
                ("informed", informed(plain_close, truth, args.sd),
                 informed_segments(plain_segment_demand, segment_truth, args.sd))):
            engine_module.Engine.close, engine_module._segment_demand = close, segment_demand
            if run == "informed":   # the known deviations keep their spread as the shared elasticity moves
                segments_module.deviation_prior_sd = lambda elasticity: args.sd
            try:
                report = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), seed).report
            finally:
                engine_module.Engine.close, engine_module._segment_demand = plain_close, plain_segment_demand
                segments_module.deviation_prior_sd = plain_deviation_sd
            totals[run][0] += report["profit"]
            totals[run][1] += report["oracle_profit"]
            for sku, r in report["per_sku"].items():
                per_sku[sku][run][0] += r["profit"]
                per_sku[sku][run][1] += r["oracle_profit"]
            line.append(f"{run} {report['profit_ratio']:.4f}")
        print("  ".join(line), flush=True)
    for run, (profit, oracle) in totals.items():
        print(f"{run:9s} profit / oracle {profit / oracle:.4f}  regret a seed {(oracle - profit) / len(seeds):.0f}")
    for sku, runs in sorted(per_sku.items()):
        cells = [f"{run} {p / o:.3f} (regret {(o - p) / len(seeds):6.0f})" for run, (p, o) in runs.items()]
        print(f"{sku:10s} {'known' if sku in truth else 'learned':7s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
