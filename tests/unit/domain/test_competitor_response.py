"""The kinked competitor response: the cheapest competitor as min(own level L, ratio a x our price),
learned from what the stream shows (our price, the cheapest competitor's), and kept in the SKU's state."""

import json
import math

import numpy as np

from pricestream.domain.competitor_response import KINK_LEVEL_DRIFT_CAP, KinkedResponse
from pricestream.domain.demand_model import DemandModel, PeriodCounts

HOUR_MS = 3_600_000


def follower_market(steps: int, level, undercut: float, our_prices, react: float = 0.15, seed: int = 0):
    """A competitor that answers our price now and then (with chance ``react`` per period), going to
    our price x (1 - undercut) but never above its own level; yields (our price, its shown price)."""
    rng = np.random.default_rng(seed)
    target = None
    for t in range(steps):
        ours = our_prices(t)
        if rng.random() < react:
            target = ours * (1 - undercut)
        own = level(t)
        yield ours, round(own if target is None else min(own, target), 2)


def exploring(t: int, centre: float = 20.0) -> float:
    """Our price moving about ``centre`` as exploration does: +-15 % in steps of about 1 %."""
    return round(centre * (0.85 + 0.3 * ((t * 7) % 31) / 30), 2)


def test_the_kinked_model_recovers_the_ratio_and_the_level():
    model = KinkedResponse()
    level = lambda t: 20.0 * math.exp(0.02 * math.sin(t / 200))     # the follower's own price drifts a little
    # our prices straddle the kink 20 / 0.96 = 20.8: sometimes followed, sometimes above it
    for ours, shown in follower_market(1500, level, 0.04, lambda t: exploring(t, 21.0)):
        model.learn(ours, shown)
    assert model.follows() and abs(model.ratio() - 0.96) < 0.002
    # above the kink, the competitor is at its own level, and a price above L / a leaves it there
    for ours, shown in follower_market(40, level, 0.04, lambda t: 26.0, seed=1):
        model.learn(ours, shown)
    assert model.regime == "free"
    assert abs(model.level(shown) - level(1500)) / level(1500) < 0.02
    settled = model.settled_competitor_price(shown, np.array([15.0, 19.0, 26.0]))
    assert np.allclose(settled, [0.96 * 15.0, 0.96 * 19.0, shown], atol=0.02)


def test_while_the_competitor_follows_its_unseen_level_is_taken_a_little_higher():
    model = KinkedResponse()
    for ours, shown in follower_market(1500, lambda t: 20.0, 0.04, lambda t: exploring(t, 21.0)):
        model.learn(ours, shown)
    for ours, shown in follower_market(300, lambda t: 20.0, 0.04, lambda t: exploring(t, 16.0), seed=2):
        model.learn(ours, shown)
    assert model.regime == "following"
    assert 20.0 <= model.level(shown) <= 20.0 * math.exp(KINK_LEVEL_DRIFT_CAP) + 1e-9
    # a cut is answered; a rise lifts it along our price up to its level, no further
    low, high = model.settled_competitor_price(shown, np.array([14.0, 40.0]))
    assert abs(low - 0.96 * 14.0) < 0.02 and high == model.level(shown)


def test_a_follower_last_seen_free_below_where_it_follows_now_is_expected_to_rise_with_us():
    # seen free at 15 (a promotion), then its own price goes back to 25 while we hold 20: it follows us at
    # 19.20, far above where it was last seen free. Its level is unseen but above 19.20, so a rise of ours
    # is expected to lift it; a level kept at the old sighting said a rise leaves it at 19.20, and a
    # policy that believed so held its price and the follower where they were for weeks.
    model = KinkedResponse()
    for ours, shown in follower_market(1500, lambda t: 20.0, 0.04, lambda t: exploring(t, 21.0)):
        model.learn(ours, shown)
    for ours, shown in follower_market(40, lambda t: 15.0, 0.04, lambda t: 26.0, seed=5):
        model.learn(ours, shown)
    assert model.regime == "free" and model.level(15.0) == 15.0
    for ours, shown in follower_market(200, lambda t: 25.0, 0.04, lambda t: 20.0, seed=6):
        model.learn(ours, shown)
    assert model.regime == "following" and shown == 19.2
    assert 19.2 < model.level(shown) <= 19.2 * math.exp(KINK_LEVEL_DRIFT_CAP) + 1e-9
    assert model.settled_competitor_price(shown, np.array([21.0]))[0] > 19.2 + 0.5


def test_a_competitor_that_moves_on_its_own_is_not_taken_for_a_follower():
    rng = np.random.default_rng(3)
    model = KinkedResponse()
    theirs = 20.0
    for t in range(3000):
        if t % 24 == 0:                                   # a daily random walk, whatever we charge
            theirs *= math.exp(0.03 * rng.standard_normal())
        model.learn(exploring(t), round(theirs, 2))
        assert not model.follows()
    assert model.settled_competitor_price(19.0, np.array([10.0, 30.0])) == 19.0


def test_a_competitor_held_at_its_floor_is_not_dragged_further_but_rises_along_our_price():
    model = KinkedResponse()
    for ours, shown in follower_market(1500, lambda t: 20.0, 0.04, lambda t: exploring(t, 21.0)):
        model.learn(ours, shown)
    floor = 18.0
    for ours, shown in follower_market(200, lambda t: 20.0, 0.04, lambda t: exploring(t, 15.0), seed=4):
        model.learn(ours, max(shown, floor))
    assert model.regime == "above"
    settled = model.settled_competitor_price(floor, np.array([12.0, 18.0, 20.0, 40.0]))
    assert settled[0] == settled[1] == floor                 # cuts: it stays at its floor
    assert abs(settled[2] - 0.96 * 20.0) < 0.01              # above floor / a: it follows up
    assert settled[3] == model.level(floor) >= 20.0          # up to its own level


def test_the_kinked_model_travels_in_the_sku_state():
    model = DemandModel.new(20.0)
    for ours, shown in follower_market(600, lambda t: 20.0, 0.04, lambda t: exploring(t, 21.0)):
        model.close_period(PeriodCounts(views=10, units=1), ours, shown, HOUR_MS)
    assert model.competitor_kink.follows()
    state = json.loads(json.dumps(model.to_state()))
    assert len(json.dumps(state["competitor_kink"])) < 600             # a few numbers, not a history
    again = DemandModel.from_state(state)
    assert again.competitor_kink == model.competitor_kink
    del state["competitor_kink"]                                          # a state from before the model
    assert not DemandModel.from_state(state).competitor_kink.follows()
