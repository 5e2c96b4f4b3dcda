"""Back-pressure: a burst of ten times the normal rate neither grows the worker's memory without bound nor
loses events, and the lag comes back afterwards."""

from __future__ import annotations

import pytest

from pricestream.burst_test import BurstPlan, passed, run_burst_test

pytestmark = pytest.mark.e2e


def test_a_burst_loses_nothing_and_the_worker_catches_up(kafka_broker):
    # a steeper burst than the command's 10x, so that a short one outruns the worker
    plan = BurstPlan(skus=8, rate=5.0, burst_factor=40.0, before_s=5.0, burst_s=8.0, after_s=3.0,
                     recovery_timeout_s=300.0)
    report = run_burst_test(kafka_broker.settings, plan, local_broker=False, progress=print)
    assert report["events"]["burst"] > 5 * report["events"]["before"]        # a burst it was
    # and the worker fell behind: there was back-pressure to recover from
    assert report["lag"]["at_burst_end"] > report["lag"]["threshold"]
    # every message written was handed to the agent once, and the outputs are the offline replay's
    assert report["written"] == report["consumed"] and report["lost"] == 0
    assert report["outputs"] > 0 and report["outputs_identical"]
    assert report["outputs_lost"] == report["outputs_duplicated"] == report["outputs_extra"] == 0
    assert report["lag"]["recovered"] and report["worker_alive"]
    assert report["rss_mb"]["last_vs_middle_third"] is not None
    assert passed(report), report["rss_mb"]
