"""``pricestream simulate``: run a scenario in either shell, print the report, write it as JSON."""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter
from pathlib import Path

from pricestream.domain.experiment import CHALLENGER, CHAMPION, ExperimentLedger
from pricestream.settings import Settings
from pricestream.simulator.report import format_report, skus_under_target
from pricestream.simulator.run import OfflineDriver, progress_printer, simulate
from pricestream.simulator.scenario import DAY_MS, load_scenario
from streams.app import engine_config


def scenario_for(args):
    scenario = load_scenario(args.scenario)
    periods = args.periods
    if args.days is not None:
        periods = max(1, round(args.days * 24 * 60 / scenario.period_minutes))
    return load_scenario(args.scenario, periods=periods) if periods else scenario


def run_one(scenario, settings: Settings, seed: int | None, kafka: bool, external: bool, quiet: bool,
            publish_calendar: bool = True, segmented: bool = True):
    """One run; with an experiment in the settings, its ledger's comparison is the report's ``experiment``."""
    progress = None if quiet else progress_printer()
    experiment = engine_config(settings).experiment
    ledger = None if experiment is None else ExperimentLedger(experiment.starts_at_ms)
    hooks = {} if ledger is None else {"on_decision": ledger.decision, "on_input": ledger.input}
    hooks["publish_calendar"] = publish_calendar
    hooks["segmented"] = segmented
    if not kafka:
        result = simulate(scenario, OfflineDriver(engine_config(settings), settings.partitions), seed, progress, **hooks)
    else:
        from pricestream.simulator.kafka_shell import kafka_session

        with kafka_session(settings, local_broker=not external,
                           progress=lambda m: print(m, file=sys.stderr)) as (driver, _):
            result = simulate(scenario, driver, seed, progress, **hooks)
    if ledger is not None:
        result.report["experiment"] = {"challenger_policy": experiment.challenger_policy,
                                       "challenger_share": experiment.challenger_share, "salt": experiment.salt,
                                       **ledger.compare()}
    return result


def run_simulate(args, settings: Settings) -> int:
    report_html = getattr(args, "report", None)
    if report_html:
        from pricestream.report_html import ReportPathError, check_report_path

        try:
            check_report_path(report_html)
        except ReportPathError as exc:
            print(f"pricestream simulate: {exc}", file=sys.stderr)
            return 2
    scenario = scenario_for(args)
    first = scenario.seed if args.seed is None else args.seed
    reports = []
    plotted = None          # the first seed's run: the HTML report's charts
    for seed in range(first, first + args.seeds):
        if not args.quiet:
            print(f"{scenario.name}: policy {settings.pricing_policy}, seed {seed}, {scenario.periods} periods"
                  f"{' via Kafka' if args.kafka else ''}", file=sys.stderr)
        run_settings = experiment_settings(args, settings, scenario, seed)
        result = run_one(scenario, run_settings, seed, args.kafka, args.external, args.quiet,
                         publish_calendar=not getattr(args, "without_calendar", False),
                         segmented=not getattr(args, "without_segments", False))
        if getattr(args, "truth", False) and "experiment" in result.report:
            result.report["experiment"]["truth"] = experiment_truth(scenario, run_settings, seed,
                                                                    result.report["experiment"]["verdict"])
        result.report["policy"] = settings.pricing_policy
        result.report["restock_policy"] = settings.restock_policy
        reports.append(result.report)
        if report_html and plotted is None:
            plotted = result
        if args.seeds == 1:
            print(format_report(result.report, settings.pricing_policy))
    output: dict = reports[0]
    if args.seeds > 1:
        output = {"summary": summarise(reports), "reports": reports}
        print_summary(output["summary"])
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(output, indent=2))
        print(f"report written to {args.report_json}", file=sys.stderr)
    if report_html:
        from pricestream.simulator.plots import write_simulation_report

        path = write_simulation_report(report_html, plotted.report, plotted.market, output.get("summary"))
        print(f"HTML report written to {path}", file=sys.stderr)
    return 0


def experiment_truth(scenario, settings: Settings, seed: int, verdict: str) -> dict:
    """What the oracle knows of an experiment: each policy alone on every SKU (same market, same seed),
    each SKU's profit per day from the experiment's start; the winner, and whether ``verdict`` names it.
    The same policy in both arms (A/A) has no winner: the right verdict is then no significant difference."""
    experiment = engine_config(settings).experiment
    alone = {}
    for arm, policy in ((CHAMPION, settings.pricing_policy), (CHALLENGER, experiment.challenger_policy)):
        ledger = ExperimentLedger(experiment.starts_at_ms)
        solo = settings.replace(pricing_policy=policy, experiment_challenger="")
        simulate(scenario, OfflineDriver(engine_config(solo), solo.partitions), seed,
                 on_decision=ledger.decision, on_input=ledger.input)
        alone[arm] = ledger.profit_per_day()[0]
    champion, challenger = (statistics.fmean(alone[arm].values()) for arm in (CHAMPION, CHALLENGER))
    lift = challenger / champion - 1 if champion else None
    winner = None
    if settings.pricing_policy != experiment.challenger_policy and lift:
        winner = CHALLENGER if lift > 0 else CHAMPION
    said = {"challenger earns more": CHALLENGER, "champion earns more": CHAMPION}.get(verdict)
    return {"champion_alone_profit_per_sku_day": champion, "challenger_alone_profit_per_sku_day": challenger,
            "lift": lift, "winner": winner, "verdict_matches": said == winner}


def experiment_settings(args, settings: Settings, scenario, seed: int) -> Settings:
    """The settings of one run of a champion/challenger simulation (unchanged without ``--challenger``).

    The market seed joins the salt, so each seed draws its own arms: over seeds, an A/A experiment's
    verdicts are independent trials, not one split judged again and again."""
    challenger = getattr(args, "challenger", None) or settings.experiment_challenger
    if not challenger:
        return settings
    share = args.challenger_share if getattr(args, "challenger_share", None) is not None else settings.experiment_share
    start_day = getattr(args, "experiment_start_day", 0.0) or 0.0
    return settings.replace(experiment_challenger=challenger, experiment_share=share,
                            experiment_salt=f"{settings.experiment_salt}:seed{seed}",
                            experiment_start_ms=scenario.start_time_ms + round(start_day * DAY_MS))


def summarise(reports: list[dict]) -> dict:
    """Mean, standard deviation, min and max over seeds of the headline figures."""
    summary = {"seeds": [r["seed"] for r in reports], "scenario": reports[0]["scenario"],
               "policy": reports[0]["policy"]}
    derived = {
        "forecast_mae_ratio": lambda r: r.get("forecast_mae_ratio"),
        "worst_sku_forecast_mae_ratio": lambda r: max(
            (v["forecast_mae_ratio"] for v in r["per_sku"].values() if v.get("forecast_mae_ratio")), default=None),
        "elasticity_within_0_3_share": lambda r: (r.get("elasticity_within_0_3") or {}).get("share"),
        "elasticity_coverage_95": lambda r: (r.get("elasticity_within_0_3") or {}).get("coverage"),
        "elasticity_sd_floor_median": lambda r: (r.get("elasticity_within_0_3") or {}).get("median_sd_floor"),
        "elasticity_identify_cost_share": lambda r: (r.get("elasticity_within_0_3") or {}).get("identify_cost_share"),
        "peak_forecast_mae": lambda r: (r.get("peaks") or {}).get("forecast_mae"),
        "peak_forecast_mae_ratio": lambda r: (r.get("peaks") or {}).get("forecast_mae_ratio"),
        "peak_forecast_error_vs_truth": lambda r: (r.get("peaks") or {}).get("forecast_error_vs_truth"),
        "peak_daily_forecast_mae": lambda r: (r.get("peaks") or {}).get("daily_forecast_mae"),
        "peak_lift_abs_log_error": lambda r: (r.get("peaks") or {}).get("lift_abs_log_error"),
        "peak_fill_rate": lambda r: (r.get("peaks") or {}).get("fill_rate"),
        "on_hand_vs_informed": lambda r: r.get("on_hand_vs_informed"),
        "skus_under_service_target": lambda r: len(r.get("skus_under_service_target") or []),
        "restock_forecast_ratio": lambda r: r.get("restock_forecast_ratio"),
        "rule_breaks": lambda r: sum((r.get("rule_breaks") or {}).values()),
    }
    for key in ("profit_ratio", "fill_rate", "profit", "oracle_profit", "profit_ratio_given_prices", "avg_on_hand",
                "stockout_periods", "price_changes", *derived):
        values = [derived[key](r) if key in derived else r.get(key) for r in reports]
        values = [v for v in values if v is not None]
        if values:
            summary[key] = {"mean": statistics.fmean(values), "std": statistics.pstdev(values),
                            "min": min(values), "max": max(values)}
    summary["skus_under_service_target_over_seeds"] = skus_under_target(fill_over_seeds(reports), "fill_rate")
    experiments = [r["experiment"] for r in reports if r.get("experiment")]
    if experiments:
        summary["experiment_verdicts"] = dict(Counter(e["verdict"] for e in experiments))
        summary["experiment_significant_share"] = sum(e["significant"] for e in experiments) / len(experiments)
        truths = [e["truth"] for e in experiments if "truth" in e]
        if truths:
            summary["experiment_verdict_matches_truth"] = sum(t["verdict_matches"] for t in truths)
    return summary


def fill_over_seeds(reports: list[dict]) -> dict:
    """Each SKU's fill rate over all the seeds' units together, with its target. A fill-rate target is a
    long-run share: a slow mover asked for 16 units in a run misses 0.95 with one unit lost, a tail the
    (r, Q) rule plans for; over ten runs its fill is what the target promises."""
    sold, asked, target = Counter(), Counter(), {}
    for r in reports:
        for sku, figures in r["per_sku"].items():
            sold[sku] += figures["units_sold"]
            asked[sku] += figures["units_demanded"]
            target[sku] = figures["service_level_target"]
    return {sku: {"fill_rate": sold[sku] / asked[sku] if asked[sku] else None, "service_level_target": target[sku]}
            for sku in asked}


def print_summary(summary: dict) -> None:
    print(f"{summary['scenario']} / {summary['policy']} over {len(summary['seeds'])} seeds")
    for key, v in summary.items():
        if key == "experiment_verdicts":
            matches = summary.get("experiment_verdict_matches_truth")
            print(f"  experiment verdicts: {v} (significant in {summary['experiment_significant_share']:.0%})"
                  + ("" if matches is None else f"; the truth's in {matches} of {len(summary['seeds'])}"))
        elif key == "skus_under_service_target_over_seeds":
            print(f"  SKUs under their fill target over all seeds' units: {', '.join(v) or 'none'}")
        elif isinstance(v, dict):
            print(f"  {key:<17} mean {v['mean']:10.4f}  std {v['std']:8.4f}  min {v['min']:10.4f}  max {v['max']:10.4f}")
