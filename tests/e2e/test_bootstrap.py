"""End to end: ``pricestream bootstrap`` publishes priors on the real broker and the worker starts from them."""

from __future__ import annotations

import json

import pytest

from pricestream.cli import main
from schemas import examples as ex
from tests.e2e.harness import Outputs, Producer, isolated_settings, start_worker
from tests.e2e.test_worker import wait_until
from tests.unit.orders_history import HOUR, START, WEEKS, history, write

pytestmark = pytest.mark.e2e

WARM, COLD = "VARY", "E2E-COLD"          # VARY has an order history; COLD has none


def test_the_worker_reports_the_bootstrapped_elasticity_from_a_skus_first_tick(kafka_broker, tmp_path, monkeypatch,
                                                                                capsys):
    settings = isolated_settings(kafka_broker.settings, pricing_policy="competitor-match")
    worker = start_worker(settings, tmp_path)
    producer, outputs = Producer(settings), Outputs(settings)
    try:
        for name, value in settings.to_env().items():       # the command reads the environment, as a user runs it
            monkeypatch.setenv(name, value)
        out = tmp_path / "priors.json"
        assert main(["bootstrap", "--orders", str(write(tmp_path, history())), "--out", str(out)]) == 0
        assert f"published 2 priors to {settings.topic('model-priors')}" in capsys.readouterr().out
        prior = next(p for p in json.loads(out.read_text())["priors"] if p["sku"] == WARM)
        assert -2.8 < prior["elasticity"] < -2.2
        wait_until(lambda: worker.status()["consumed"].get("model-priors", 0) == 2)

        start = START + 7 * WEEKS * 24 * HOUR           # the history ends where the shop goes on
        producer.send_record(ex.catalog_entry(sku=WARM, event_id="cat-warm", list_price=20.0, event_time_ms=start))
        producer.send_record(ex.catalog_entry(sku=COLD, event_id="cat-cold", list_price=20.0, event_time_ms=start))
        for hour in range(3):
            for i in range(40):
                producer.send_record(ex.click(sku=WARM, t=start + hour * HOUR + i, event_id=f"c{hour}-{i}"))
            producer.tick(start + (hour + 1) * HOUR)
        seen = outputs.wait_for(lambda s: len(s["demand-forecasts"]) >= 6, worker=worker)

        forecasts = {sku: [f for f in seen["demand-forecasts"] if f["sku"] == sku] for sku in (WARM, COLD)}
        warm = forecasts[WARM]
        assert len(warm) == 3
        assert (warm[0]["elasticity"], warm[0]["elasticity_sd"]) == (prior["elasticity"],
                                                                     pytest.approx(prior["elasticity_sd"]))
        for later in warm[1:]:      # the price has not moved: nothing has told the model otherwise yet
            assert later["elasticity"] == pytest.approx(prior["elasticity"], abs=1e-9)
        assert [f["elasticity"] for f in forecasts[COLD]] == [-2.0, -2.0, -2.0]     # the pool's default
        # the warm SKU's conversion came from the prior's level: units expected at 20.00 follow its views
        assert warm[-1]["expected_units"] > 0 and warm[-1]["expected_views"] > 0
    finally:
        producer.close()
        outputs.close()
        worker.stop()
