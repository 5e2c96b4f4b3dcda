"""The ``segmented`` scenario in the offline shell: segments buy apart at their own prices from shared
stock, the oracle prices each segment inside the spread, and ``--without-segments`` lists the SKUs with
one price while the segments still buy apart."""

import dataclasses
import math

import numpy as np
import pytest

from pricestream.domain.engine import EngineConfig
from pricestream.simulator.market import Market
from pricestream.simulator.oracle import oracle_price, segment_oracle_prices, segment_oracle_profit
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import load_scenario, scenario_from_dict, validate_scenario

LEARNED = EngineConfig("learned", "learned")


def test_each_segments_views_and_orders_carry_its_name_and_its_price():
    scenario = load_scenario("segmented")
    market = Market(scenario, seed=4)
    catalog = {e.sku: e for e in market.opening_events() if e.TOPIC == "catalog"}
    assert catalog["SEG-01"].segments == ["web", "app", "marketplace"]
    assert catalog["SEG-06"].segments is None                       # its brand's MAP: one price
    market.apply_decision("price-changes", {"sku": "SEG-01", "segment": "app", "new_price": 13.0,
                                            "old_price": None, "event_time_ms": 0})
    events = [e for t in range(48) for e in market.period_events(t) if e.sku == "SEG-01"]
    clicks = [e for e in events if e.TOPIC == "clicks"]
    orders = [e for e in events if e.TOPIC == "orders"]
    assert {e.segment for e in clicks} == {"web", "app", "marketplace"}
    share = sum(e.segment == "web" for e in clicks) / len(clicks)
    assert 0.4 < share < 0.6                                       # half of the views are the web's
    assert {e.unit_price for e in orders if e.segment == "app"} == {13.0}
    assert {e.unit_price for e in orders if e.segment != "app"} == {catalog["SEG-01"].list_price}


def test_one_price_for_a_segmented_sku_is_every_segments_price():
    scenario = load_scenario("segmented")
    market = Market(scenario, seed=4, segmented=False)
    assert all(e.segments is None for e in market.opening_events() if e.TOPIC == "catalog")
    market.apply_decision("price-changes", {"sku": "SEG-01", "segment": None, "new_price": 12.5,
                                            "old_price": None, "event_time_ms": 0})
    assert set(market.skus["SEG-01"].segment_prices.values()) == {12.5}


def test_the_segment_oracle_takes_each_segments_optimum_when_they_fit_the_spread_and_a_band_when_not():
    sku = load_scenario("segmented").skus[0]
    wide = dataclasses.replace(sku, max_segment_spread_pct=10.0)
    own = {seg.name: oracle_price(dataclasses.replace(sku, purchase=seg.purchase, segments=()), 1.0, None)[0]
           for seg in sku.segments}
    assert segment_oracle_prices(wide, None) == own
    for spread in (0.05, 0.2):
        tight = dataclasses.replace(sku, max_segment_spread_pct=spread)
        prices = segment_oracle_prices(tight, 20.0)
        assert max(prices.values()) <= min(prices.values()) * (1 + spread) + 1e-9
        best = segment_oracle_profit(tight, 1.0, 20.0, prices)
        # no band of that width on a fine grid does better
        low = min(own.values()) / (1 + spread)
        for k in range(400):
            edge = low * (max(own.values()) / low) ** (k / 399)
            trial = {n: min(max(p, edge), edge * (1 + spread)) for n, p in own.items()}
            assert segment_oracle_profit(tight, 1.0, 20.0, trial) <= best + 1e-9
    one = max(segment_oracle_profit(sku, 1.0, None, {n: p for n in own}) for p in own.values())
    assert segment_oracle_profit(sku, 1.0, None, segment_oracle_prices(sku, None)) > one


@pytest.mark.parametrize("change, message", [
    (lambda s: s["segments"][0].update(view_share=0.9), "add up to"),
    (lambda s: s.update(watched_segment="kiosk"), "watched_segment"),
    (lambda s: s["segments"][1].update(name="web"), "distinct"),
])
def test_a_bad_segment_spec_is_refused_with_the_sku_named(change, message):
    import json
    from pricestream.simulator.scenario import BUILT_IN_DIR
    data = json.loads((BUILT_IN_DIR / "segmented.json").read_text())
    change(data["skus"][0])
    with pytest.raises(ValueError, match=message):
        validate_scenario(data)
        scenario_from_dict(data)


def test_segment_pricing_in_the_closed_loop_prices_segments_apart_and_books_them():
    # ten days: the prices stay within reach of the list price until the segments' elasticities are
    # known well enough to move them apart (learned_pricing.within_reach)
    scenario = load_scenario("segmented", periods=24 * 10)
    scenario = dataclasses.replace(scenario, skus=scenario.skus[:3])
    result = simulate(scenario, OfflineDriver(LEARNED), seed=2)
    report = result.report
    assert math.isfinite(report["profit_ratio"]) and 0.5 < report["profit_ratio"] <= 1.0 + 1e-9
    prices = result.market.skus["SEG-01"].segment_prices
    assert set(prices) == {"web", "app", "marketplace"}
    # not one price per SKU (a SKU whose segments all do best where its competitor stops following ours
    # may hold them together there)
    assert any(len(set(m.segment_prices.values())) > 1 for m in result.market.skus.values())
    # competitors see the web price (the scenario's watched segment)
    assert result.market.skus["SEG-01"].price == prices["web"]
    assert all(r["elasticity_true"] is None for r in report["per_sku"].values())     # segmented: no one truth


def test_the_watching_lowest_variant_has_competitors_see_the_cheapest_segment(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "scenario_variant.py"
    out = tmp_path / "variant.json"
    subprocess.run([sys.executable, str(script), "segmented", "watching-lowest", str(out)], check=True)
    variant = load_scenario(out)
    assert variant.name == "segmented-watching-lowest"
    assert all(sku.watched_segment is None for sku in variant.skus)
    market = Market(variant, seed=1)
    market.apply_decision("price-changes", {"sku": "SEG-01", "segment": "marketplace", "new_price": 9.0,
                                            "old_price": None, "event_time_ms": 0})
    assert market.skus["SEG-01"].price == 9.0                        # the lowest, not the web's
    assert subprocess.run([sys.executable, str(script), "segmented", "nonsense", str(out)]).returncode == 2


def test_the_informed_ceiling_starts_each_segment_at_its_true_demand():
    """``benchmarks/informed_ceiling.py`` on a segmented SKU: each segment's model conversion is the
    truth's at any own price (the competitor's term is the view-weighted one the engine can hold)."""
    import importlib.util
    from pathlib import Path
    from types import SimpleNamespace

    from pricestream.domain.demand_model import DemandModel
    from pricestream.domain.engine import _segment_demand
    from pricestream.simulator.demand import purchase_probability

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "informed_ceiling.py"
    spec = importlib.util.spec_from_file_location("informed_ceiling", path)
    ceiling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ceiling)
    scenario = load_scenario("segmented")
    truth, segment_truth = ceiling.known_truth(scenario)
    sku = next(s for s in scenario.skus if s.sku == "SEG-08")
    assert set(segment_truth) == {s.sku for s in scenario.skus if s.segments} and "SEG-06" in truth
    assert truth["SEG-08"][0] == pytest.approx(0.5 * -4.0 + 0.3 * -2.5 + 0.2 * -7.0)
    state = SimpleNamespace(sku="SEG-08", segment_demand=None, demand=DemandModel.new(sku.list_price),
                            catalog=SimpleNamespace(segments=[s.name for s in sku.segments]))
    model = ceiling.informed_segments(_segment_demand, segment_truth, 0.05)(state)
    assert model.shares == [s.view_share for s in sku.segments]
    for i, segment in enumerate(sku.segments):
        _, e, _ = model.coefficients(i)
        assert e == pytest.approx(segment.purchase.elasticity)
        for price in (30.0, 41.0, 55.0):
            # with the competitor's term out (no competitor in stock) the model's conversion is the truth's
            assert float(model.conversions(i, np.array([price]), None)[0]) == pytest.approx(
                purchase_probability(segment.purchase, price, None), rel=1e-9)
    assert ceiling.informed_segments(_segment_demand, segment_truth, 0.05)(state) is model   # made once
