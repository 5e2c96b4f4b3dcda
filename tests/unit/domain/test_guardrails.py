import math

from hypothesis import given, settings, strategies as st

from pricestream.domain.guardrails import PRICE_TOLERANCE, apply_guardrails, hard_bounds
from schemas.codec import catalog_problem
from schemas.examples import catalog_entry
from tests.unit.domain.strategies import catalogs, prices


def test_a_price_inside_every_rule_is_kept_and_rounded_to_cents():
    result = apply_guardrails(19.994, 20.0, catalog_entry())
    assert result.price == 19.99 and result.reasons == ()


def test_the_margin_floor_binds_when_it_is_above_the_min_price():
    entry = catalog_entry(unit_cost=10.0, min_price=5.0, min_margin=0.25)
    result = apply_guardrails(6.0, None, entry)
    assert result.price == 12.5 and result.reasons == ("clamped:margin-floor",)


def test_map_binds_above_the_other_floors():
    entry = catalog_entry(map_price=18.0)
    assert apply_guardrails(15.0, None, entry).reasons == ("clamped:map",)
    assert apply_guardrails(15.0, None, entry).price == 18.0


def test_max_step_limits_a_move_in_both_directions():
    entry = catalog_entry(max_step_pct=0.1, max_price=100.0)
    assert apply_guardrails(30.0, 20.0, entry).price == 22.0
    assert apply_guardrails(13.0, 20.0, entry).price == 18.0
    assert apply_guardrails(13.0, 20.0, entry).reasons == ("clamped:max-step",)


def test_hard_bounds_win_over_max_step_when_the_old_price_is_outside_them():
    # the cost went up: the old price 11 is below the new margin floor 16.5; selling below it is worse
    entry = catalog_entry(unit_cost=15.0, min_margin=0.1, min_price=12.0, max_step_pct=0.05)
    result = apply_guardrails(11.0, 11.0, entry)
    assert result.price == 16.5
    assert "clamped:margin-floor" in result.reasons


def test_price_points_snap_to_the_nearest_allowed_point_within_the_step():
    entry = catalog_entry(price_points=[14.99, 19.99, 24.99, 29.99], max_step_pct=0.3)
    result = apply_guardrails(23.0, 19.99, entry)
    assert result.price == 24.99 and result.reasons == ("snapped:price-point",)


def test_price_points_outside_the_step_are_used_only_when_none_is_inside():
    entry = catalog_entry(price_points=[14.99, 29.99], max_step_pct=0.05)
    result = apply_guardrails(21.0, 20.0, entry)
    assert result.price in (14.99, 29.99)
    assert result.reasons == ("snapped:price-point",)


@settings(max_examples=500, deadline=None)
@given(catalogs(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e7),
       st.none() | prices)
def test_no_proposal_ever_breaks_a_hard_bound_or_is_non_finite(entry, proposed, old):
    if catalog_problem(entry) is not None:
        return          # such a catalogue is dead-lettered before it reaches the engine
    result = apply_guardrails(proposed, old, entry)
    bounds = hard_bounds(entry)
    assert math.isfinite(result.price)
    assert bounds.low - PRICE_TOLERANCE <= result.price <= bounds.high + PRICE_TOLERANCE
    if entry.price_points is not None:
        assert result.price in entry.price_points
