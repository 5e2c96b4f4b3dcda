"""``pricestream simulate --challenger``: an experiment end to end in the offline shell."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from pricestream.domain.experiment import CHALLENGER, CHAMPION, Experiment, compare_arms
from pricestream.settings import Settings
from pricestream.simulator.cli import experiment_settings, experiment_truth, run_one, run_simulate
from pricestream.simulator.scenario import DAY_MS, load_scenario
from streams.app import engine_config


def test_an_experiment_runs_its_arms_from_its_start_and_the_report_compares_them():
    scenario = load_scenario("standard", periods=4 * 24)
    args = Namespace(challenger="cost-plus", challenger_share=0.5, experiment_start_day=2.0)
    settings = experiment_settings(args, Settings.from_env({}, pricing_policy="static"), scenario, seed=7)
    experiment = engine_config(settings).experiment
    assert experiment.salt.endswith(":seed7") and experiment.starts_at_ms == scenario.start_time_ms + 2 * DAY_MS
    result = run_one(scenario, settings, 7, kafka=False, external=False, quiet=True)
    # every decision names its SKU's arm from the start on, and none before; the challenger's prices are its own
    for topic, raw in result.decisions:
        event = json.loads(raw)
        expected = experiment.arm(event["sku"]) if event["event_time_ms"] >= experiment.starts_at_ms else None
        assert event["arm"] == expected, (topic, event)
        if topic == "price-changes" and expected is not None:
            assert event["policy"] == ("cost-plus" if expected == CHALLENGER else "static")
    assert any(json.loads(raw)["arm"] == CHALLENGER for _, raw in result.decisions)
    figures = result.report["experiment"]
    arms = figures["arms"]
    assert arms[CHAMPION]["skus"] + arms[CHALLENGER]["skus"] == 20 and min(a["skus"] for a in arms.values()) >= 2
    assert all(a["sku_days"] == 2 * a["skus"] for a in arms.values())
    assert figures["pre_period_days"] == 2 and figures["cuped_theta"] is not None
    d = figures["difference"]
    assert d["low"] <= d["estimate"] <= d["high"] and figures["verdict"] in (
        "challenger earns more", "champion earns more", "no significant difference")
    # the ledger, kept from the events alone, books what the market's own books say was earned
    for sku, m in result.market.skus.items():
        periods = [(scenario.period_start(t), (price - m.spec.unit_cost) * sold)
                   for t, (price, sold) in enumerate(zip(m.books.price_path, m.books.sold_path))]
        during = sum(p for start, p in periods if start >= experiment.starts_at_ms) / 2
        before = sum(p for start, p in periods if start < experiment.starts_at_ms) / 2
        booked = figures["per_sku"][sku]
        assert booked["profit_per_day"] == pytest.approx(during) and booked["days"] == 2
        assert booked["pre_period_profit_per_day"] == pytest.approx(before)
        assert booked["arm"] == experiment.arm(sku)


def test_simulate_prints_the_verdict_and_counts_verdicts_over_seeds(tmp_path, capsys):
    args = Namespace(scenario="standard", periods=48, days=None, seed=1, seeds=2, report_json=str(tmp_path / "r.json"),
                     report=None, kafka=False, external=False, quiet=True, challenger="static",
                     challenger_share=0.5, experiment_start_day=1.0, truth=True)
    assert run_simulate(args, Settings.from_env({}, pricing_policy="static")) == 0
    assert "experiment verdicts" in capsys.readouterr().out
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    # static against static: the same policy in both arms
    assert sum(summary["experiment_verdicts"].values()) == 2
    reports = json.loads((tmp_path / "r.json").read_text())["reports"]
    assert all(r["experiment"]["challenger_policy"] == "static" for r in reports)
    # the truth of an A/A run: each policy alone is the same run, no winner; the right verdict is none
    for r in reports:
        truth = r["experiment"]["truth"]
        assert truth["lift"] == 0.0 and truth["winner"] is None
        assert truth["verdict_matches"] == (not r["experiment"]["significant"])
    assert summary["experiment_verdict_matches_truth"] == sum(r["experiment"]["truth"]["verdict_matches"]
                                                              for r in reports)


def test_the_truth_names_the_policy_that_earns_more_alone():
    scenario = load_scenario("standard", periods=3 * 24)
    args = Namespace(challenger="static", challenger_share=0.5, experiment_start_day=1.0)
    settings = experiment_settings(args, Settings.from_env({}, pricing_policy="cost-plus"), scenario, seed=2)
    truth = experiment_truth(scenario, settings, 2, verdict="challenger earns more")
    # each policy alone, judged over the same days: whichever earned more is the winner
    alone = truth["challenger_alone_profit_per_sku_day"], truth["champion_alone_profit_per_sku_day"]
    assert alone[0] != alone[1] and truth["winner"] == ("challenger" if alone[0] > alone[1] else "champion")
    assert truth["verdict_matches"] == (truth["winner"] == "challenger")
    assert truth["lift"] == pytest.approx(alone[0] / alone[1] - 1)


def test_on_a_simulated_a_a_run_the_95_percent_test_is_significant_about_5_percent_of_the_time():
    # In an A/A run the arms are labels only: the SKUs' figures do not depend on them, so drawing the
    # arms again with other salts gives many trials of the test under no difference from one run.
    scenario = load_scenario("standard", periods=21 * 24)
    args = Namespace(challenger="cost-plus", challenger_share=0.5, experiment_start_day=7.0)
    settings = experiment_settings(args, Settings.from_env({}, pricing_policy="cost-plus"), scenario, seed=4)
    per_sku = run_one(scenario, settings, 4, kafka=False, external=False, quiet=True).report["experiment"]["per_sku"]
    profit = {s: v["profit_per_day"] for s, v in per_sku.items()}
    days = {s: v["days"] for s, v in per_sku.items()}
    before = {s: v["pre_period_profit_per_day"] for s, v in per_sku.items()}
    trials = [Experiment("cost-plus", 0.5, f"redraw-{k}") for k in range(400)]
    significant = sum(compare_arms(profit, {s: e.arm(s) for s in per_sku}, days, before)["significant"]
                      for e in trials)
    assert 0.02 <= significant / len(trials) <= 0.09, significant


def test_the_calibration_script_redraws_the_arms_of_saved_a_a_runs(tmp_path, capsys):
    report = tmp_path / "aa.json"
    args = Namespace(scenario="standard", periods=72, days=None, seed=1, seeds=2, report_json=str(report),
                     report=None, kafka=False, external=False, quiet=True, challenger="static",
                     challenger_share=0.5, experiment_start_day=1.0, truth=False)
    assert run_simulate(args, Settings.from_env({}, pricing_policy="static")) == 0
    script = Path(__file__).resolve().parents[3] / "benchmarks" / "experiment_calibration.py"
    done = subprocess.run([sys.executable, str(script), str(report), "--salts", "30"], capture_output=True,
                          text=True, check=True)
    [figures] = json.loads(done.stdout)
    assert figures["runs"] == 2 and figures["trials"] == 60 and 0.0 <= figures["significant_share"] <= 0.3
