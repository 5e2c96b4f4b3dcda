"""The learned policies in the closed loop: every emitted price obeys its SKU's rules in every built-in
scenario, a replay is identical, and pacing and learning show in the results."""

import dataclasses
import json

import pytest

from pricestream.domain.engine import EngineConfig
from pricestream.domain.pricing import PolicyParams, PriceProposal
from pricestream.simulator.rule_audit import RULES, RuleAudit
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import load_scenario

LEARNED = EngineConfig("learned", "learned")


def short(name, periods, skus=None):
    scenario = load_scenario(name, periods=periods)
    return dataclasses.replace(scenario, skus=scenario.skus[:skus]) if skus else scenario


@pytest.mark.parametrize("name, periods", [("standard", 96), ("shock", 24 * 30), ("slow-movers", 96),
                                           ("ferreira2018", 300), ("segmented", 24 * 7)])
def test_no_price_the_learned_policy_emits_breaks_a_guardrail(name, periods):
    """Every price change of a run, through the market's rule audit (``simulator.rule_audit``: bounds,
    price points, step, interval, segment spread), and the report says none broke."""
    scenario = short(name, periods)
    result = simulate(scenario, OfflineDriver(LEARNED))
    changes = [json.loads(raw) for topic, raw in result.decisions if topic == "price-changes"]
    assert len(changes) > len(scenario.skus)              # the policy does move prices
    assert result.report["rule_breaks"] == {rule: 0 for rule in RULES}
    assert "rule_break_examples" not in result.report
    audit = RuleAudit(result.market.catalog_entries())     # and again, from the decisions alone
    assert all(audit.price_change(event) == [] for event in changes)
    audit.finish()
    assert sum(audit.breaks.values()) == 0
    for event in changes:
        assert event["reasons"][0] in ("initial-listing", "cold-start", "demand-optimal", "exploration")
        assert event["policy"] == "learned"
    segmented = {s.sku for s in scenario.skus if s.segments}
    named = {(e["sku"], e["segment"]) for e in changes if e["sku"] in segmented}
    assert named == {(s.sku, seg.name) for s in scenario.skus if s.segments for seg in s.segments}


def test_a_learned_replay_is_identical_and_the_seed_changes_the_exploration():
    scenario = short("standard", 72, skus=4)
    first = simulate(scenario, OfflineDriver(LEARNED), seed=3)
    again = simulate(scenario, OfflineDriver(LEARNED), seed=3)
    assert first.decisions == again.decisions
    reseeded = EngineConfig("learned", "learned", PolicyParams(seed=99))
    assert simulate(scenario, OfflineDriver(reseeded), seed=3).decisions != first.decisions


def test_learned_pricing_paces_ferreira2018_stock_to_the_end_of_the_season():
    result = simulate(short("ferreira2018", 400), OfflineDriver(LEARNED))
    report, sku = result.report, result.report["per_sku"]["FSW-1"]
    changes = [json.loads(raw) for topic, raw in result.decisions if topic == "price-changes"]
    assert any("stock-pacing" in e["reasons"] for e in changes)
    # 100 units for 400 periods: nearly all sold, at a revenue close to the fluid bound of 10.1 a period
    assert sku["units_sold"] >= 90
    assert report["profit_ratio"] > 0.9


def test_learned_restocking_orders_from_the_forecast_and_counts_what_is_on_order():
    result = simulate(short("standard", 24 * 21, skus=4), OfflineDriver(LEARNED))
    orders = [json.loads(raw) for topic, raw in result.decisions if topic == "restock-orders"]
    assert orders, "three weeks of sales should need restocking"
    learned = [o for o in orders if "cold-start" not in o["reasons"]]     # not the first tick's fixed rule
    assert learned
    for order in learned:
        assert order["policy"] == "learned"
        assert order["inventory_position"] <= order["reorder_point"]
        assert order["lead_time_demand_mean"] > 0 and order["safety_stock"] is not None
        assert order["quantity"] >= order["reorder_point"] - order["inventory_position"]
    # one need, one order: between two orders of a SKU its position went back above the reorder point
    assert len({o["restock_id"] for o in orders}) == len(orders)
    # STA-04's first order, the catalogue's fixed rule at the first tick, takes 14 days to arrive (lead time
    # 8.5 +- 2.1) and its shelf is empty for 19 hours: that alone costs about five points in three weeks
    assert result.report["fill_rate"] > 0.9
    for sku in result.report["per_sku"].values():       # the informed (r, Q) replay is reported beside it
        assert sku["informed_rq_on_hand"] > 0 and 0 < sku["informed_rq_fill_rate"] <= 1
        assert sku["on_hand_vs_informed"] == pytest.approx(sku["avg_on_hand"] / sku["informed_rq_on_hand"])


def test_stock_planned_for_the_unpaced_price_ends_a_shortage_that_planning_for_the_paced_price_keeps(monkeypatch):
    """STA-17 (``standard``, 56 days) runs short of stock in its first weeks, and pacing raises its price.
    Planned for the demand at that raised price (monkeypatched: how stock was planned before), its orders
    kept it short and paced: 611 of its 1,422 price changes. Planned for the price the stock would have
    allowed (``PriceProposal.planning_price``), it orders more sooner, is paced far less, and earns more
    (0.973 of the oracle against 0.949)."""
    scenario = load_scenario("standard")
    scenario = dataclasses.replace(scenario, skus=[s for s in scenario.skus if s.sku == "STA-17"])

    def run():
        result = simulate(scenario, OfflineDriver(LEARNED))
        changes = [json.loads(raw) for topic, raw in result.decisions if topic == "price-changes"]
        return result.report, sum("stock-pacing" in e["reasons"] for e in changes)

    unpaced, unpaced_pacing = run()
    monkeypatch.setattr(PriceProposal, "planning_price", lambda self, charged: charged)
    charged, charged_pacing = run()
    assert unpaced_pacing < 0.75 * charged_pacing
    assert unpaced["profit_ratio"] > charged["profit_ratio"] + 0.01
    assert unpaced["fill_rate"] >= charged["fill_rate"] - 0.001
