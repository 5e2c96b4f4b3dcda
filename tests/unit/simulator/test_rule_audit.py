"""The simulator's outside check of the catalogue rules: it finds each kind of break it names."""

import pytest

from pricestream.simulator.rule_audit import RULES, RuleAudit
from schemas import examples as ex

SEGMENTS = ["web", "app"]


def change(new, old=None, t=0, sku="SKU-1", segment=None):
    return {"sku": sku, "new_price": new, "old_price": old, "event_time_ms": t, "segment": segment}


def audit():
    return RuleAudit({
        "SKU-1": ex.catalog_entry(min_price=12.0, max_price=30.0, max_step_pct=0.1, min_change_interval_s=3600),
        "SKU-P": ex.catalog_entry(sku="SKU-P", min_price=12.0, max_price=30.0, price_points=[14.99, 19.99]),
        "SKU-S": ex.catalog_entry(sku="SKU-S", segments=SEGMENTS, max_segment_spread_pct=0.2, max_step_pct=1.0),
    })


@pytest.mark.parametrize("events, rule", [
    ([change(31.0)], "bounds"),
    ([change(9.0)], "bounds"),                                   # below the margin floor's and min price
    ([change(20.0), change(23.0, 20.0, t=3_600_000)], "max-step"),
    ([change(20.0), change(21.0, 20.0, t=60_000)], "min-interval"),
    ([change(17.5, sku="SKU-P")], "price-points"),
    ([change(20.0, sku="SKU-S")], "segments-named"),
    ([change(20.0, segment="web")], "segments-named"),
    ([change(15.0, sku="SKU-S", segment="web"), change(20.0, sku="SKU-S", segment="app"),
      change(15.0, 15.0, t=3_600_000, sku="SKU-S", segment="web")], "segment-spread"),
])
def test_each_broken_rule_is_counted_and_kept_as_an_example(events, rule):
    a = audit()
    for event in events:
        a.price_change(event)
    a.finish()
    assert a.breaks[rule] >= 1
    assert sum(a.breaks.values()) == a.breaks[rule]
    assert rule in a.examples[0]["rules"]


def test_prices_inside_every_rule_break_none():
    a = audit()
    events = [change(20.0), change(21.9, 20.0, t=3_600_000), change(19.99, sku="SKU-P"),
              change(15.0, sku="SKU-S", segment="web"), change(17.5, sku="SKU-S", segment="app"),
              change(16.0, 15.0, t=3_600_000, sku="SKU-S", segment="web")]
    assert [a.price_change(e) for e in events] == [[]] * len(events)
    a.finish()
    assert a.breaks == {rule: 0 for rule in RULES} and a.examples == []


def test_a_spread_left_broken_by_the_last_tick_is_found_at_the_finish():
    a = audit()
    a.price_change(change(15.0, sku="SKU-S", segment="web"))
    a.price_change(change(25.0, sku="SKU-S", segment="app"))
    assert a.breaks["segment-spread"] == 0          # the tick may not be over yet
    a.finish()
    assert a.breaks["segment-spread"] == 1
