"""Hostile input on the real broker: malformed and adversarial events mixed into a scenario each land in
dead-letter with the reason they were built to get, the worker never restarts, and the decisions are
those of the same scenario without them."""

from __future__ import annotations

import dataclasses

import pytest

from pricestream.fuzz_test import CATEGORIES, passed, run_fuzz_test
from pricestream.simulator.scenario import load_scenario

pytestmark = pytest.mark.e2e


def test_every_bad_event_is_dead_lettered_with_its_reason_and_the_decisions_do_not_change(kafka_broker):
    scenario = load_scenario("standard", periods=12)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:4])
    settings = kafka_broker.settings.replace(pricing_policy="learned", restock_policy="learned", pricing_seed=5)
    report = run_fuzz_test(scenario, settings, seed=3, bad=1000, fuzz_seed=1, local_broker=False, progress=print)
    samples = report["dead_letter_samples"]
    assert report["bad_events"] + report["not_placed"] == 1000
    assert report["bad_events"] >= 950 and set(report["bad_by_category"]) == set(CATEGORIES)
    assert report["dead_letters"] == report["dead_letters_expected"] > 800, samples
    assert (report["dead_letters_missing"], report["dead_letters_unexpected"], report["dead_letters_repeated"],
            report["dead_letters_wrong_code"]) == (0, 0, 0, 0), samples
    # retried orders and stock movements are not dead letters: ignored, and counted on the status page
    assert report["duplicates_ignored"] == report["duplicates_sent"] > 0
    assert report["worker_consumed"] == report["events"]
    assert report["decisions"] > 3 * 12 and report["decision_mismatches"] == 0, report["per_topic"]
    assert report["decisions_identical"] and report["market_saw_identical_decisions"]
    assert report["worker_alive"] and report["worker_same_pid"]
    assert (report["worker_restarts"], report["worker_crash_lines"]) == (0, 0), report["first_crash_line"]
    assert passed(report)
