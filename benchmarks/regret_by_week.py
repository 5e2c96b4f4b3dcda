"""Where a policy's profit falls short of the oracle's, by week of the run and by SKU.

    .venv/bin/python benchmarks/regret_by_week.py --scenario standard --policy learned --seeds 20240101,20240102

Runs the offline shell and, after every period a SKU trades, reads its books' running expected profit
and oracle profit; prints the ratio and the shortfall (regret) per week summed over the SKUs and seeds,
and per SKU over the first third of the run and the rest. Not for ``ferreira2018``, whose oracle is the
whole horizon's LP bound, set at the end. The learned restock policy serves every pricing policy, so
pricing alone differs between runs.
"""

import argparse
import collections

from pricestream.settings import Settings
from pricestream.simulator import market
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import load_scenario
from streams.app import engine_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="standard")
    parser.add_argument("--policy", default="learned")
    parser.add_argument("--seeds", default="20240101,20240102", help="comma-separated market seeds")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    running = collections.defaultdict(list)      # SKU -> (expected profit, oracle profit) after each period
    trade = market.Market._trade

    def recording_trade(self, m, *rest):
        events = trade(self, m, *rest)
        running[m.spec.sku].append((m.books.expected_profit, m.books.oracle_profit))
        return events

    market.Market._trade = recording_trade
    scenario = load_scenario(args.scenario)
    settings = Settings.from_env(pricing_policy=args.policy, restock_policy="learned")
    periods_a_week = round(7 * 86_400_000 / scenario.period_ms)
    weeks = collections.defaultdict(lambda: [0.0, 0.0])
    skus = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for seed in seeds:
        running.clear()
        result = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), seed)
        print(f"seed {seed}: profit_ratio {result.report['profit_ratio']:.4f}", flush=True)
        for sku, path in running.items():
            before = (0.0, 0.0)
            for t, (profit, oracle) in enumerate(path):
                gained, best = profit - before[0], oracle - before[1]
                weeks[t // periods_a_week][0] += gained
                weeks[t // periods_a_week][1] += best
                part = 0 if t < len(path) // 3 else 2
                skus[sku][part] += gained
                skus[sku][part + 1] += best
                before = (profit, oracle)
    profit, oracle = sum(w[0] for w in weeks.values()), sum(w[1] for w in weeks.values())
    print(f"{args.scenario} / {args.policy}, seeds {args.seeds}: ratio {profit / oracle:.4f}, "
          f"regret a seed {(oracle - profit) / len(seeds):.0f}")
    for week, (p, o) in sorted(weeks.items()):
        print(f"week {week:2d}  ratio {p / o:.4f}  regret a seed {(o - p) / len(seeds):8.0f}")
    for sku, (p1, o1, p2, o2) in sorted(skus.items()):
        print(f"{sku:10s} first third {p1 / o1:.3f} (regret {(o1 - p1) / len(seeds):6.0f})   "
              f"rest {p2 / o2:.3f} (regret {(o2 - p2) / len(seeds):6.0f})")


if __name__ == "__main__":
    main()
