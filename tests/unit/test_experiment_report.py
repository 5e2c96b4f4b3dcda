"""``pricestream experiment report``'s command: what it prints and its exit code, the topics aside
(``tests/e2e/test_experiment.py`` reads real ones)."""

from __future__ import annotations

from argparse import Namespace

from pricestream import experiment_report as command
from pricestream.domain.experiment import ExperimentLedger
from pricestream.settings import Settings
from schemas import examples as ex

DAY = 86_400_000


def booked(with_arms: bool) -> dict:
    ledger = ExperimentLedger(starts_at_ms=DAY)
    for i, sku in enumerate(["A", "B", "C", "D"]):
        ledger.input(ex.catalog_entry(sku=sku, unit_cost=10.0))
        for tick in range(0, 3 * DAY + 1, DAY):
            arm = ("champion" if i % 2 else "challenger") if with_arms and tick >= DAY else None
            ledger.decision("demand-forecasts", {"sku": sku, "event_time_ms": tick, "arm": arm})
        ledger.input(ex.order(sku=sku, t=DAY // 2, quantity=1 + i, unit_price=15.0))
        ledger.input(ex.order(sku=sku, t=2 * DAY, quantity=2 + i, unit_price=15.0))
    return {"messages": {}, **ledger.compare()}


def test_the_report_prints_the_arms_and_the_verdict(monkeypatch, capsys):
    monkeypatch.setattr(command, "experiment_report", lambda settings, start, confidence: booked(True))
    settings = Settings.from_env({}, pricing_policy="static", experiment_challenger="cost-plus")
    assert command.run_experiment_report_command(Namespace(start_ms=None, confidence=0.95, json=False), settings) == 0
    out = capsys.readouterr().out
    assert "champion static: 2 SKUs, 4 SKU-days" in out and "challenger cost-plus: 2 SKUs" in out and "verdict:" in out


def test_a_deployment_without_an_experiment_is_told_so(monkeypatch, capsys):
    monkeypatch.setattr(command, "experiment_report", lambda settings, start, confidence: booked(False))
    assert command.run_experiment_report_command(Namespace(start_ms=None, confidence=0.95, json=True),
                                                 Settings.from_env({})) == 1
    assert "names an arm" in capsys.readouterr().err
