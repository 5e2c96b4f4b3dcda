"""End to end, ``pricestream dashboard``: the real broker, the worker, the dashboard and a short simulation,
looked at in Debian's headless Chromium. The test saves a screenshot of the page (tests/artifacts/)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pricestream.simulator.kafka_shell import KafkaDriver
from pricestream.simulator.run import simulate
from pricestream.simulator.scenario import load_scenario
from schemas import examples as ex
from tests.e2e.browser import Chromium, chromium_executable
from tests.e2e.harness import Outputs, free_port, isolated_settings, start_worker

pytestmark = pytest.mark.e2e

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard.png"
SKUS = 4
PERIODS = 6


@pytest.fixture
def worker(kafka_broker, tmp_path):
    running = start_worker(isolated_settings(kafka_broker.settings), tmp_path)
    yield running
    running.stop()


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def dashboard(worker, tmp_path):
    """``pricestream dashboard`` as a user starts it, on a free loopback port; returns its URL."""
    port = free_port()
    log = open(tmp_path / "dashboard.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "pricestream.cli", "dashboard", "--port", str(port)],
                               env={**os.environ, **worker.settings.to_env()}, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (tmp_path / "dashboard.log").read_text()
        try:
            if get_json(url + "api/summary")["reader"]["caught_up"]:
                break
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, (tmp_path / "dashboard.log").read_text()
        time.sleep(0.3)
    yield url
    process.terminate()
    assert process.wait(timeout=20) == 0, (tmp_path / "dashboard.log").read_text()
    log.close()


@pytest.fixture
def browser(tmp_path):
    if chromium_executable() is None:
        pytest.fail("Debian's chromium is needed: 'make test' installs it (apt-get install chromium)", pytrace=False)
    chromium = Chromium(tmp_path / "chromium-profile", tmp_path / "chromium.log")
    yield chromium
    chromium.close()


TABLE_ROWS = """Array.from(document.querySelectorAll('#sku-table tbody tr'))
                     .map(tr => Array.from(tr.cells).map(td => td.textContent))"""
COLUMNS = ["sku", "price", "rival", "vs", "floor", "ceiling", "forecast", "sold", "on_hand", "reorder", "on_order",
           "dead", "last_change"]


def table(browser) -> dict[str, dict]:
    return {row[0]: dict(zip(COLUMNS, row)) for row in browser.evaluate(TABLE_ROWS)}


def latest_per_sku(events: list[dict]) -> dict[str, dict]:
    latest = {}
    for event in events:          # one partition per SKU: in order per SKU
        latest[event["sku"]] = event
    return latest


def test_the_dashboard_shows_the_skus_follows_new_decisions_and_dead_letters(worker, dashboard, browser, tmp_path):
    settings = worker.settings
    scenario = load_scenario("standard", periods=PERIODS)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:SKUS])
    skus = sorted(s.sku for s in scenario.skus)
    driver, outputs = KafkaDriver(settings), Outputs(settings)
    try:
        result = simulate(scenario, driver)        # through the worker, in lockstep: every decision committed
        seen = outputs.wait_for_counts(demand_forecasts=SKUS * (PERIODS + 1), worker=worker)

        browser.navigate(dashboard)
        browser.wait_for(f"document.querySelectorAll('#sku-table tbody tr').length === {SKUS}", what="the SKU rows")
        # the table agrees with what the worker decided and with the market's own books
        forecasts = latest_per_sku(seen["demand-forecasts"])
        browser.wait_for(f"({TABLE_ROWS}).every(r => r[7] !== '-')", what="sales in every row")
        rows = table(browser)
        assert sorted(rows) == skus
        for sku in skus:
            assert rows[sku]["price"] == f"{forecasts[sku]['price']:.2f}"
            assert rows[sku]["rival"] == ("-" if forecasts[sku]["competitor_price"] is None
                                          else f"{forecasts[sku]['competitor_price']:.2f}")
            assert rows[sku]["sold"] == str(forecasts[sku]["observed_units"])
            assert rows[sku]["forecast"] == f"{forecasts[sku]['expected_units']:.2f}"
            assert rows[sku]["on_hand"] == f"{result.market.skus[sku].on_hand:,}"
        assert browser.evaluate("document.getElementById('tile-skus').textContent") == str(SKUS)

        # the first SKU is charted: one point per period it was forecast for, price against the rival
        first = skus[0]
        browser.wait_for(f"document.getElementById('detail-title').textContent === '{first}'")
        points = sum(1 for f in seen["demand-forecasts"] if f["sku"] == first)
        browser.wait_for(f"document.getElementById('chart-demand').data?.[0].x.length === {points}",
                         what=f"{points} periods in the demand chart")
        assert browser.evaluate("document.getElementById('chart-price').data.map(t => t.name)") == \
            ["our price", "cheapest rival", "floor", "ceiling"]
        assert browser.evaluate("document.querySelectorAll('#chart-price .main-svg').length") > 0

        # live: a SKU listed now gets its first price; the page shows it without being reloaded
        browser.evaluate("window.notReloaded = true")
        now = scenario.period_start(PERIODS)
        driver.producer.send_record(ex.catalog_entry(sku="DASH-NEW", event_time_ms=now + 1, list_price=24.0))
        driver.producer.tick(scenario.period_start(PERIODS + 1))
        seen = outputs.wait_for(lambda s: any(p["sku"] == "DASH-NEW" for p in s["price-changes"]), worker=worker)
        [listing] = [p for p in seen["price-changes"] if p["sku"] == "DASH-NEW"]
        feed_row = f"document.querySelector('#feed tr[data-event-id=\"{listing['event_id']}\"]')"
        text = browser.wait_for(f"{feed_row}?.textContent", what="the new price change in the feed")
        assert "DASH-NEW" in text and f"listed at {listing['new_price']:.2f}" in text
        assert all(reason in text for reason in listing["reasons"])
        browser.wait_for(f"document.getElementById('tile-skus').textContent === '{SKUS + 1}'")
        browser.wait_for("!!document.querySelector('#sku-table tbody tr[data-sku=\"DASH-NEW\"]')",
                         what="the new SKU in the table")
        assert browser.evaluate("window.notReloaded") is True

        # a bad event: the worker dead-letters it, the page shows it with its reason
        assert browser.evaluate("document.getElementById('dead-count').textContent") == "0"
        driver.producer.send_raw("orders", first.encode(), b'{"schema_version":1, <script>alert(1)</script>')
        driver.producer.flush()
        seen = outputs.wait_for_counts(dead_letter=1, worker=worker)
        [letter] = seen["dead-letter"]
        assert letter["error_code"] == "malformed-json"
        letter_row = f"document.querySelector('#dead-letters tr[data-event-id=\"{letter['event_id']}\"]')"
        text = browser.wait_for(f"{letter_row}?.textContent", what="the dead letter")
        assert "malformed-json" in text and f"orders[{letter['partition']}]@{letter['offset']}" in text and first in text
        assert browser.evaluate("document.getElementById('dead-count').textContent") == "1"
        browser.wait_for(f"document.querySelector('#sku-table tr[data-sku=\"{first}\"]').cells[11].textContent === '1'",
                         what="the SKU's dead-letter count")
        # the payload's markup stayed text: no element was made of it
        assert browser.evaluate("document.querySelectorAll('#dead-section script').length") == 0
        assert browser.evaluate("window.notReloaded") is True

        shot = browser.screenshot(tmp_path / "dashboard.png")
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ARTIFACT)
        assert shot.stat().st_size > 10_000
        assert browser.errors == []            # no script error, no blocked resource, no CSP violation

        # read-only, whatever the route (the server's guard is unit-tested in tests/unit/dashboard/)
        request = urllib.request.Request(dashboard + "api/summary", method="POST", data=b"{}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 405
    finally:
        driver.close()
        outputs.close()

