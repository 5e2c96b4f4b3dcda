import pytest

from pricestream.domain.engine import Engine, EngineConfig, SkuState
from pricestream.domain.pricing import PolicyParams
from schemas import examples as ex
from schemas.codec import encode

HOUR = 3_600_000


def run(engine, events, state=None, close_at=None):
    """Apply the events, then decide at a tick (by default at the last event's time)."""
    for event in events:
        outcome = engine.apply(state, event)
        assert not outcome.unlisted
        state = outcome.state
    now = close_at if close_at is not None else max(e.event_time_ms for e in events)
    return state, [o for o in engine.close(state, now) if o.TOPIC != "demand-forecasts"]


def run_each(engine, events, state=None):
    """A tick after every event: the outputs of each."""
    outputs = []
    for event in events:
        state, out = run(engine, [event], state)
        outputs += out
    return state, outputs


def test_a_new_sku_gets_its_first_price_with_the_initial_listing_reason():
    _, out = run(Engine(EngineConfig("static")), [ex.catalog_entry(list_price=21.0)])
    assert [(o.old_price, o.new_price, o.reasons) for o in out] == [(None, 21.0, ["initial-listing", "list-price"])]


def test_an_event_for_a_sku_without_catalog_entry_is_marked_unlisted_and_still_applied():
    outcome = Engine(EngineConfig()).apply(None, ex.order(quantity=2))
    assert outcome.unlisted and outcome.state.units_sold == 2


def test_competitor_match_undercuts_the_cheapest_in_stock_competitor_within_max_step():
    engine = Engine(EngineConfig("competitor-match", params=PolicyParams(undercut=0.0)))
    entry = ex.catalog_entry(list_price=20.0, max_step_pct=0.2)
    _, out = run_each(engine, [entry, ex.competitor_price(t=1, price=19.0, competitor="a"),
                               ex.competitor_price(t=2, price=10.0, competitor="b", in_stock=False)])
    assert [o.new_price for o in out] == [20.0, 19.0]
    assert out[1].inputs["competitor_price"] == 19.0 and out[1].trigger == "competitor-prices"


def test_no_event_is_emitted_when_the_price_does_not_change():
    _, out = run_each(Engine(EngineConfig("static")), [ex.catalog_entry(), ex.competitor_price(t=1)])
    assert len(out) == 1


def test_the_minimum_interval_holds_a_change_until_a_later_event_after_it():
    engine = Engine(EngineConfig("competitor-match", params=PolicyParams(undercut=0.0)))
    entry = ex.catalog_entry(min_change_interval_s=3600)
    state, out = run_each(engine, [entry, ex.competitor_price(t=10, price=19.0)])
    assert len(out) == 1                       # the listing; the competitor move is held back
    state, later = run(engine, [ex.click(t=HOUR - 1)], state)
    assert later == []
    state, later = run(engine, [ex.click(t=HOUR)], state)
    assert [o.new_price for o in later] == [19.0] and later[0].trigger == "competitor-prices"


def test_restock_is_not_emitted_twice_for_one_need():
    engine = Engine(EngineConfig("static"))
    entry = ex.catalog_entry(reorder_point=5, order_up_to=20)
    state, out = run(engine, [entry, ex.inventory(kind="count", quantity=0, t=1)])
    restocks = [o for o in out if o.TOPIC == "restock-orders"]
    assert len(restocks) == 1 and restocks[0].quantity == 20      # counted an empty shelf
    state, _ = run(engine, [ex.inventory(kind="receipt", quantity=20, restock_id=restocks[0].restock_id, t=2)], state)
    state, out = run_each(engine, [ex.order(t=3 + i, quantity=5) for i in range(4)], state)
    restocks = [o for o in out if o.TOPIC == "restock-orders"]
    # on hand 20 -> 0 after four orders: one order, when the position reaches 5, for 15 units
    assert [(r.quantity, r.inventory_position, r.on_order) for r in restocks] == [(15, 5.0, 0.0)]
    assert state.stock.position == 15


def test_no_restock_is_ordered_before_the_stock_on_hand_is_known():
    engine = Engine(EngineConfig("static"))
    state, out = run(engine, [ex.catalog_entry(reorder_point=5, order_up_to=20), ex.order(t=1, quantity=3)])
    assert [o.TOPIC for o in out] == ["price-changes"]
    state, out = run(engine, [ex.inventory(kind="count", quantity=2, t=2)], state)
    assert [(o.TOPIC, o.quantity) for o in out] == [("restock-orders", 18)]


def test_no_decision_is_made_between_ticks():
    engine = Engine(EngineConfig("static"))
    outcome = engine.apply(None, ex.catalog_entry())
    assert not hasattr(outcome, "outputs") and outcome.state.price is None
    assert [o.new_price for o in engine.close(outcome.state, 0) if o.TOPIC == "price-changes"] == [20.0]


def test_every_tick_reports_the_period_and_forecasts_the_next_one():
    engine = Engine(EngineConfig("static"))
    state = engine.apply(None, ex.catalog_entry()).state
    engine.close(state, 0)                                          # the opening tick: no period behind it
    for t in range(48):
        for v in range(10):
            engine.apply(state, ex.click(t=t * HOUR + v, event_id=f"v{t}-{v}"))
        engine.apply(state, ex.order(t=t * HOUR + 30, quantity=1, event_id=f"o{t}"))
        [forecast] = [o for o in engine.close(state, (t + 1) * HOUR, period_ms=HOUR) if o.TOPIC == "demand-forecasts"]
    assert (forecast.observed_views, forecast.observed_units) == (10, 1)
    assert 8 < forecast.expected_views < 12                        # it has learned the traffic
    assert 0.3 < forecast.expected_units < 3 and forecast.units_std > 0
    assert forecast.elasticity_sd > 0.5                            # a price that never moved: honest doubt


def test_a_duplicated_order_or_receipt_does_not_count_twice():
    engine = Engine(EngineConfig("static"))
    state, _ = run(engine, [ex.catalog_entry(), ex.inventory(kind="count", quantity=10, t=1)])
    for _ in range(3):
        outcome = engine.apply(state, ex.order(t=2, quantity=4, event_id="o-1"))
    assert state.stock.on_hand == 6 and outcome.duplicate
    for _ in range(2):
        engine.apply(state, ex.inventory(kind="receipt", quantity=5, t=3, event_id="r-1"))
    assert state.stock.on_hand == 11


def test_outputs_are_deterministic_for_the_same_input_sequence():
    events = [ex.catalog_entry(reorder_point=3, order_up_to=9), ex.competitor_price(t=1, price=17.0),
              ex.order(t=2, quantity=2), ex.competitor_price(t=3, price=16.5, competitor="z")]
    first = [encode(o) for o in run_each(Engine(EngineConfig()), events)[1]]
    second = [encode(o) for o in run_each(Engine(EngineConfig()), events)[1]]
    assert first == second and len(first) >= 2


def test_a_period_decides_the_same_whatever_order_its_events_were_consumed_in():
    events = [ex.catalog_entry(reorder_point=3, order_up_to=9), ex.inventory(kind="count", quantity=8, t=1),
              ex.competitor_price(t=5, price=17.0), ex.competitor_price(t=9, price=18.0),
              ex.competitor_price(t=7, price=16.0, competitor="z", in_stock=False),
              ex.order(t=2, quantity=2), ex.order(t=6, quantity=4), ex.click(t=3)]
    listing, rest = events[:2], events[2:]
    results = set()
    for order in (rest, rest[::-1], rest[1::2] + rest[::2]):
        state, _ = run(Engine(EngineConfig()), listing)
        _, out = run(Engine(EngineConfig()), order, state, close_at=10)
        results.add(tuple(encode(o) for o in out))
    assert len(results) == 1 and len(next(iter(results))) == 2     # one price change, one restock


def test_state_survives_a_round_trip_through_its_serialised_form():
    state, _ = run(Engine(EngineConfig()), [ex.catalog_entry(price_points=[15.0, 20.0]),
                                            ex.competitor_price(t=1), ex.order(t=2)])
    assert SkuState.from_dict(state.to_dict()) == state


def test_unknown_policies_are_refused_with_the_known_names():
    with pytest.raises(ValueError, match="competitor-match"):
        EngineConfig(pricing_policy="magic")
