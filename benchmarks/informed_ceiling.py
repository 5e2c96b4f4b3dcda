"""What ``learned`` pricing earns when it knows each SKU's true elasticity and cross-elasticity from the
first period: how much of its shortfall from the oracle is the cost of learning them.

    .venv/bin/python benchmarks/informed_ceiling.py --scenario standard --seeds 20240101,20240102

For every SKU whose true demand has the constant-elasticity form (the engine's own model), the demand
model starts with its prior on (e, g) at the truth and a spread of ``--sd`` (0.05), so the reach is the
whole range and Thompson sampling hardly explores; the other SKUs (linear demand) learn as usual. Its
level (conversion at the list price), the views, the competitors' answers and the stock are learned as
in any run. Prints, per seed, the ratio to the oracle of this run and of the same seed's ordinary
``learned`` run, and per SKU the regret of both. The offline shell; restocking ``learned`` in both.
"""

import argparse
import collections

from pricestream.domain import engine as engine_module
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="standard")
    parser.add_argument("--seeds", default="20240101,20240102", help="comma-separated market seeds")
    parser.add_argument("--sd", type=float, default=0.05, help="prior spread of the known coefficients")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    scenario = load_scenario(args.scenario)
    truth = {s.sku: (s.purchase.elasticity, s.purchase.competitor_elasticity) for s in scenario.skus
             if s.purchase.form == "constant-elasticity" and not s.segments}
    settings = Settings.from_env(pricing_policy="learned", restock_policy="learned")
    plain_close = engine_module.Engine.close
    totals = {"learned": [0.0, 0.0], "informed": [0.0, 0.0]}
    per_sku = collections.defaultdict(lambda: {"learned": [0.0, 0.0], "informed": [0.0, 0.0]})
    print(f"{args.scenario}: {len(truth)} of {len(scenario.skus)} SKUs informed (sd {args.sd})", flush=True)
    for seed in seeds:
        line = [f"seed {seed}"]
        for run, close in (("learned", plain_close), ("informed", informed(plain_close, truth, args.sd))):
            engine_module.Engine.close = close
            try:
                report = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), seed).report
            finally:
                engine_module.Engine.close = plain_close
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
