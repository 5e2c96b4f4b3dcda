"""The ``holidays`` scenario in the offline shell: the calendar reaches the engine, lifts the forecasts
over the peaks and keeps the shelves full there; without it the same peaks come unannounced."""

import dataclasses
import json

import pytest

from pricestream.domain.engine import EngineConfig
from pricestream.simulator.market import Market
from pricestream.simulator.report import format_report
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import DAY_MS, load_scenario

LEARNED = EngineConfig("learned", "learned")


def _holiday_runs(skus: int) -> dict:
    """The first SKUs over 24 days: a public holiday (day 12, no guess) and the spring sale (days 20-23,
    published on day 5 with a guess of its lift); with and without the calendar."""
    scenario = load_scenario("holidays", periods=24 * 24)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:skus])
    return {publish: simulate(scenario, OfflineDriver(LEARNED), seed=11, publish_calendar=publish)
            for publish in (True, False)}


@pytest.fixture(scope="module")
def runs():
    return _holiday_runs(4)


@pytest.fixture(scope="module")
def six_sku_runs():
    """Whether a SKU's stock runs down to its raised reorder point before the sale, rather than just
    after it starts, depends on its prices before it: of the first six SKUs, one does."""
    return _holiday_runs(6)


def test_each_entry_is_published_once_on_its_day_and_only_when_asked():
    scenario = load_scenario("holidays")
    market = Market(scenario)
    opening = [e for e in market.opening_events() if e.TOPIC == "calendar"]
    assert {e.calendar_id for e in opening} == {"public-holiday-12", "public-holiday-33", "public-holiday-54",
                                                 "gift-season"}
    published = {}
    for t in range(52 * 24):
        for e in market.period_events(t):
            if e.TOPIC == "calendar":
                published[e.calendar_id] = (t, e.start_ms)
    t0 = scenario.start_time_ms
    assert published == {"spring-sale": (5 * 24, t0 + 20 * DAY_MS), "flash-sale": (50 * 24, t0 + 60 * DAY_MS)}
    quiet = Market(scenario, publish_calendar=False)
    assert not [e for e in quiet.opening_events() if e.TOPIC == "calendar"]


def test_with_the_calendar_the_forecasts_over_the_peaks_are_closer_to_the_truth(runs):
    cal, blind = runs[True].report["peaks"], runs[False].report["peaks"]
    assert cal["periods"] == blind["periods"] > 24 * 4          # the same peaks happened in both runs
    # the mean distance from the true expected sales: the forecast's own error, without the noise of
    # sales (over 16 SKU-days, a MAE against sales is mostly that noise; benchmarks/ has the long runs)
    assert cal["forecast_error_vs_truth"] < 0.9 * blind["forecast_error_vs_truth"]
    # that distance also holds the conversion's error, which the calendar does not touch; the lift the
    # forecasts applied against the true calendar factor is the calendar's own part (blind: none applied)
    assert cal["lift_abs_log_error"] < 0.3 * blind["lift_abs_log_error"]
    assert blind["lift_log_error"] < -0.2 < cal["lift_log_error"]


def test_with_the_calendar_the_peaks_are_served_at_the_target(runs):
    report = runs[True].report
    assert report["peaks"]["skus_under_target"] == []
    assert report["peaks"]["fill_rate"] >= max(r["service_level_target"] for r in report["per_sku"].values())
    assert "calendar peaks:" in format_report(report, "learned")


def test_the_learned_restocks_order_ahead_of_the_announced_sale_and_say_why(six_sku_runs):
    runs = six_sku_runs

    def orders(result):
        return [json.loads(raw) for topic, raw in result.decisions if topic == "restock-orders"]

    sale = runs[True].market.scenario.start_time_ms + 20 * DAY_MS
    ahead = [o for o in orders(runs[True]) if "calendar-peak" in o["reasons"]]
    assert ahead and all(o["event_time_ms"] < sale + 3 * DAY_MS for o in ahead)
    assert any(sale - (o["lead_time_days_mean"] + 1) * DAY_MS <= o["event_time_ms"] < sale for o in ahead)
    assert not [o for o in orders(runs[False]) if "calendar-peak" in o["reasons"]]
