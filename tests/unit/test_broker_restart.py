"""Where the broker-restart test stops the broker: seeded, clear of the kills, alternately hard."""

from __future__ import annotations

import pytest

from pricestream.broker_restart import plan_broker_restarts
from pricestream.crash_test import plan_kills


def test_restarts_avoid_the_kills_the_start_and_the_last_period():
    kills = {k.period for k in plan_kills(periods=30, kills=5, seed=4)}
    plan = plan_broker_restarts(periods=30, restarts=8, seed=4, taken=kills, max_outage_s=6.0)
    periods = [r.period for r in plan]
    assert len(set(periods)) == 8 and not set(periods) & kills
    assert min(periods) >= 2 and max(periods) <= 28
    assert [r.hard for r in plan] == [False, True] * 4
    assert all(0 <= r.outage_s <= 6.0 and 0 <= r.delay <= 1.5 for r in plan)
    assert plan == plan_broker_restarts(periods=30, restarts=8, seed=4, taken=kills, max_outage_s=6.0)


def test_more_restarts_than_free_periods_is_refused():
    with pytest.raises(ValueError):
        plan_broker_restarts(periods=6, restarts=4, seed=1)


def test_stops_can_be_only_clean_or_only_kills():
    assert not any(r.hard for r in plan_broker_restarts(periods=20, restarts=5, seed=2, stops="clean"))
    assert all(r.hard for r in plan_broker_restarts(periods=20, restarts=5, seed=2, stops="kill"))
    # the same moments whichever the kind of stop
    assert [r.period for r in plan_broker_restarts(periods=20, restarts=5, seed=2, stops="kill")] == \
        [r.period for r in plan_broker_restarts(periods=20, restarts=5, seed=2)]
