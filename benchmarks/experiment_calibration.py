"""How often an experiment's verdict is significant when there is no difference, from A/A runs.

In an A/A run (the same policy in both arms) the arms are labels only: each SKU's figures do not depend
on them. Drawing the arms again with other salts therefore tests the comparison many times under no
difference, on the figures of real runs. A 95 % test should be significant in about 5 % of the draws.

    .venv/bin/pricestream simulate --scenario standard --policy cost-plus --challenger cost-plus \\
        --days 28 --experiment-start-day 14 --seeds 20 --quiet --report-json aa.json
    .venv/bin/python benchmarks/experiment_calibration.py aa.json [--salts 50] [--confidence 0.95]

Prints JSON: per file, the trials and the share significant (the verdict's relative test, and the
absolute difference's).
"""

from __future__ import annotations

import argparse
import json
import sys

from pricestream.domain.experiment import Experiment, compare_arms


def calibration(report_file: str, salts: int, confidence: float) -> dict:
    data = json.loads(open(report_file).read())
    reports = data["reports"] if "reports" in data else [data]
    trials = verdicts = absolute = 0
    for report in reports:
        per_sku = report["experiment"]["per_sku"]
        profit = {s: v["profit_per_day"] for s, v in per_sku.items()}
        days = {s: v["days"] for s, v in per_sku.items()}
        before = {s: v["pre_period_profit_per_day"] for s, v in per_sku.items()}
        covariate = None if any(v is None for v in before.values()) else before
        for k in range(salts):
            draw = Experiment("any", 0.5, f"calibration-{k}")
            result = compare_arms(profit, {s: draw.arm(s) for s in per_sku}, days, covariate, confidence)
            trials += 1
            verdicts += result["significant"]
            absolute += result["difference"] is not None and result["difference"]["p_value"] < 1 - confidence
    return {"file": report_file, "runs": len(reports), "trials": trials,
            "significant_share": verdicts / trials, "absolute_significant_share": absolute / trials}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="simulate --report-json files of A/A runs")
    parser.add_argument("--salts", type=int, default=50, help="draws of the arms per run (default 50)")
    parser.add_argument("--confidence", type=float, default=0.95)
    args = parser.parse_args(argv)
    print(json.dumps([calibration(f, args.salts, args.confidence) for f in args.reports], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
