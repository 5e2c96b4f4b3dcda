"""A champion/challenger experiment through the real broker and worker: every decision names its arm, and
``pricestream experiment report``, reading only the topics, books what the simulator booked."""

from __future__ import annotations

import dataclasses
import json
from argparse import Namespace

import pytest

from pricestream.domain.experiment import Experiment, ExperimentLedger
from pricestream.experiment_report import experiment_report, run_experiment_report_command
from pricestream.simulator.kafka_shell import kafka_session
from pricestream.simulator.run import simulate
from pricestream.simulator.scenario import DAY_MS, load_scenario

pytestmark = pytest.mark.e2e


def test_the_live_report_books_what_the_simulator_booked(kafka_broker, capsys):
    scenario = load_scenario("standard", periods=2 * 24)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:8])
    settings = kafka_broker.settings.replace(
        pricing_policy="static", restock_policy="fixed-reorder", experiment_challenger="cost-plus",
        experiment_share=0.5, experiment_salt="live", experiment_start_ms=scenario.start_time_ms + DAY_MS)
    ledger = ExperimentLedger(settings.experiment_start_ms)
    with kafka_session(settings, local_broker=False, progress=lambda *_: None) as (driver, worker):
        result = simulate(scenario, driver, seed=3, on_decision=ledger.decision, on_input=ledger.input)
        live = experiment_report(driver.settings)
        inferred = experiment_report(driver.settings.replace(experiment_start_ms=0))
        assert run_experiment_report_command(Namespace(start_ms=None, confidence=0.95, json=False),
                                             driver.settings) == 0
        assert worker.alive()
    printed = capsys.readouterr().out
    assert "verdict:" in printed and "champion static" in printed and "challenger cost-plus" in printed
    # the worker wrote the arms: both arms decided, each SKU's decisions name its arm from the start on
    arms = {json.loads(raw)["sku"]: json.loads(raw)["arm"] for _, raw in result.decisions
            if json.loads(raw)["event_time_ms"] >= settings.experiment_start_ms}
    split = Experiment("cost-plus", 0.5, "live")
    assert arms == {spec.sku: split.arm(spec.sku) for spec in scenario.skus}
    assert min(list(arms.values()).count(arm) for arm in ("champion", "challenger")) >= 3
    expected = ledger.compare()
    assert live["messages"]["orders"] > 0 and live["messages"]["demand-forecasts"] >= 8 * 49
    for sku, booked in expected["per_sku"].items():
        got = live["per_sku"][sku]
        assert got["arm"] == booked["arm"] == arms[sku] and got["days"] == booked["days"] == 1
        assert got["profit_per_day"] == pytest.approx(booked["profit_per_day"])
        assert got["pre_period_profit_per_day"] == pytest.approx(booked["pre_period_profit_per_day"])
    assert live["difference"]["estimate"] == pytest.approx(expected["difference"]["estimate"])
    assert live["verdict"] == expected["verdict"]
    # without a start, the first tick that named an arm is the start
    assert inferred["starts_at_ms"] == settings.experiment_start_ms
    assert inferred["difference"]["estimate"] == pytest.approx(expected["difference"]["estimate"])
