import copy
import dataclasses
import json

import jsonschema
import pytest

from pricestream.domain.guardrails import hard_bounds
from pricestream.simulator import make_scenarios
from pricestream.simulator.demand import purchase_probability, view_rate
from pricestream.simulator.scenario import (
    BUILT_IN_DIR, CalendarSpec, CompetitorSpec, EffectLift, InventorySpec, PurchaseSpec, Scenario, SegmentSpec, ShockSpec,
    SkuSpec, ViewsSpec,
    load_scenario, scenario_from_dict, scenario_schema, validate_scenario,
)

BUILT_IN = ("standard", "slow-movers", "shock", "ferreira2018", "experiment", "holidays", "segmented")
DATACLASSES = {"Scenario": Scenario, "SkuSpec": SkuSpec, "ViewsSpec": ViewsSpec, "PurchaseSpec": PurchaseSpec,
               "CompetitorSpec": CompetitorSpec, "InventorySpec": InventorySpec, "ShockSpec": ShockSpec,
               "CalendarSpec": CalendarSpec, "EffectLift": EffectLift, "SegmentSpec": SegmentSpec}


def _object_schema(name: str) -> dict:
    schema = scenario_schema()
    return schema if name == "Scenario" else schema["$defs"][name]


@pytest.mark.parametrize("name", sorted(DATACLASSES))
def test_the_schema_has_exactly_the_dataclass_fields_and_requires_those_without_defaults(name):
    cls, obj = DATACLASSES[name], _object_schema(name)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(obj["properties"]) == set(fields), "schema properties and dataclass fields differ"
    no_default = {n for n, f in fields.items()
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    assert set(obj["required"]) == no_default
    assert obj["additionalProperties"] is False
    for field_name, prop in obj["properties"].items():
        assert prop.get("description"), f"{name}.{field_name} has no description"
        f = fields[field_name]
        if f.default is not dataclasses.MISSING:
            default = list(f.default) if isinstance(f.default, tuple) else f.default
            assert prop.get("default", "missing") == default, f"{name}.{field_name}: default differs"
        else:
            assert "default" not in prop


def test_every_nested_dataclass_has_a_definition_in_the_schema():
    assert set(scenario_schema()["$defs"]) == set(DATACLASSES) - {"Scenario"}


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(scenario_schema())


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_scenario_loads_and_an_independent_validator_accepts_it(name):
    scenario = load_scenario(name)
    assert scenario.name == name and scenario.skus
    data = json.loads((BUILT_IN_DIR / f"{name}.json").read_text())
    jsonschema.Draft202012Validator(scenario_schema()).validate(data)
    for sku in scenario.skus:
        assert isinstance(sku.competitors, tuple) and isinstance(sku.shocks, tuple)
        assert isinstance(sku.views, ViewsSpec) and isinstance(sku.purchase, PurchaseSpec)


def test_the_committed_scenario_files_are_the_script_output():
    expected = make_scenarios.build_all()
    assert set(expected) == {p.name for p in BUILT_IN_DIR.glob("*.json")}
    for file_name, text in expected.items():
        assert (BUILT_IN_DIR / file_name).read_text() == text, (
            f"{file_name} is stale: run python -m pricestream.simulator.make_scenarios")


def test_periods_can_be_overridden_and_ferreira_stock_scales_with_them():
    scenario = load_scenario("ferreira2018", periods=2000)
    assert scenario.periods == 2000
    assert scenario.skus[0].initial_on_hand(scenario.periods) == 500
    assert load_scenario("ferreira2018").skus[0].initial_on_hand(500) == 125


def test_scenario_from_dict_builds_nested_frozen_dataclasses_with_tuples():
    data = json.loads((BUILT_IN_DIR / "ferreira2018.json").read_text())
    scenario = scenario_from_dict(data)
    sku = scenario.skus[0]
    assert isinstance(scenario.skus, tuple)
    assert sku.price_points == (29.9, 34.9, 39.9, 44.9)
    assert sku.purchase.prices == (29.9, 34.9, 39.9, 44.9)
    assert sku.inventory.initial_on_hand_per_period == 0.25 and sku.inventory.restock_enabled is False
    assert sku.views.deterministic is True and sku.views.peak_hour == 20.0     # a default
    assert scenario.oracle == "fluid-lp"
    with pytest.raises(dataclasses.FrozenInstanceError):
        sku.unit_cost = 5.0


def test_the_standard_market_has_the_intended_size():
    scenario = load_scenario("standard")
    assert len(scenario.skus) == 20 and scenario.periods == 2160 and scenario.period_minutes == 60
    total = sum(view_rate(s, scenario.period_start(t), scenario.period_ms, scenario.start_time_ms)
                for s in scenario.skus for t in range(0, scenario.periods))
    assert 200_000 <= total <= 300_000
    inside = 0
    for sku in scenario.skus:
        assert len(sku.competitors) == 3
        assert sum(c.process == "reactive" for c in sku.competitors) == 1
        assert 2 <= sku.inventory.lead_time_days_mean <= 10
        assert 0.9 <= sku.inventory.service_level <= 0.98
        purchase = sku.purchase
        if purchase.form == "constant-elasticity":
            assert -4.0 - 1e-9 <= purchase.elasticity <= -1.2 + 1e-9
            p_star = sku.unit_cost * purchase.elasticity / (1 + purchase.elasticity)
        else:       # linear, the competitor at the reference price
            p_star = (purchase.intercept + purchase.slope * sku.unit_cost) / (2 * purchase.slope)
        bounds = hard_bounds(sku.catalog_entry(0))
        inside += bounds.low <= p_star <= bounds.high
        assert abs(sku.list_price / p_star - 1) > 0.05           # the list price is not the optimum
    assert sum(s.purchase.form == "linear" for s in scenario.skus) == 4
    assert inside == 17            # three SKUs have a binding max price, MAP or margin floor on purpose


def test_slow_movers_sell_less_than_a_unit_a_day():
    scenario = load_scenario("slow-movers")
    assert len(scenario.skus) == 10
    for sku in scenario.skus:
        assert 0.5 <= sku.views.rate_per_period <= 3.0
        q = purchase_probability(sku.purchase, sku.list_price, sku.list_price)
        assert sku.views.rate_per_period * 24 * q < 1.0


def test_the_shock_scenario_has_a_price_war_and_a_demand_spike_on_every_sku():
    scenario = load_scenario("shock")
    assert len(scenario.skus) == 8 and scenario.periods == 60 * 24
    for sku in scenario.skus:
        kinds = {s.kind: s for s in sku.shocks}
        assert kinds["price-war"].price_factor == 0.75 and kinds["price-war"].competitor is None
        assert (kinds["price-war"].start_day, kinds["price-war"].end_day) == (25, 35)
        assert kinds["demand"].multiplier == 2.5 and (kinds["demand"].start_day, kinds["demand"].end_day) == (40, 45)


# -- rejection of broken files ---------------------------------------------------------------------------

def _ferreira() -> dict:
    return json.loads((BUILT_IN_DIR / "ferreira2018.json").read_text())


def _standard() -> dict:
    return json.loads((BUILT_IN_DIR / "standard.json").read_text())


def _rejection(data: dict) -> str:
    with pytest.raises(ValueError) as info:
        validate_scenario(data, source="broken.json")
    message = str(info.value)
    assert message.startswith("broken.json: ")
    return message


def test_a_wrong_value_is_rejected_naming_the_field():
    data = _standard()
    data["skus"][2]["purchase"]["elasticity"] = 1.5
    message = _rejection(data)
    assert "skus[2].purchase.elasticity" in message and "STA-03" in message


def test_a_missing_field_is_rejected_naming_it():
    data = _ferreira()
    del data["skus"][0]["unit_cost"]
    assert "unit_cost" in _rejection(data)


def test_an_unknown_field_is_rejected_naming_it():
    data = _ferreira()
    data["skus"][0]["views"]["rate"] = 2
    message = _rejection(data)
    assert "skus[0].views" in message and "rate" in message


def test_a_probability_above_one_is_rejected():
    data = _ferreira()
    data["skus"][0]["purchase"]["probabilities"][1] = 1.2
    assert "skus[0].purchase.probabilities[1]" in _rejection(data)


def test_a_table_price_outside_the_hard_bounds_is_rejected():
    data = _ferreira()
    data["skus"][0]["min_price"] = 30.0
    data["skus"][0]["price_points"] = [34.9, 39.9, 44.9]
    message = _rejection(data)
    assert "purchase.prices[0]" in message and "29.9" in message


def test_a_price_point_without_a_probability_is_rejected():
    data = _ferreira()
    data["skus"][0]["price_points"] = [29.9, 31.9]
    assert "price_points[1]" in _rejection(data)


def test_an_inconsistent_catalog_entry_is_rejected():
    data = _standard()
    data["skus"][0]["min_price"] = data["skus"][0]["max_price"] + 1
    message = _rejection(data)
    assert "skus[0] (sku 'STA-01')" in message and "min_price" in message


def test_a_fixed_rule_with_order_up_to_below_the_reorder_point_is_rejected():
    data = _standard()
    data["skus"][1]["inventory"]["order_up_to"] = data["skus"][1]["inventory"]["reorder_point"]
    assert "order_up_to" in _rejection(data)


def test_shock_and_competitor_consistency_is_checked():
    data = _standard()
    data["skus"][0]["shocks"] = [{"kind": "price-war", "start_day": 3, "end_day": 2}]
    assert "shocks[0].end_day" in _rejection(data)
    data["skus"][0]["shocks"] = [{"kind": "price-war", "start_day": 1, "end_day": 2, "competitor": "nobody"}]
    assert "shocks[0].competitor" in _rejection(data)
    data = _standard()
    data["skus"][0]["competitors"][1]["name"] = data["skus"][0]["competitors"][0]["name"]
    assert "competitors[1].name" in _rejection(data)


def test_a_duplicate_sku_is_rejected():
    data = _standard()
    data["skus"].append(copy.deepcopy(data["skus"][0]))
    assert "appears twice" in _rejection(data)


def test_load_scenario_names_the_file_of_a_broken_scenario(tmp_path):
    data = _ferreira()
    data["periods"] = 0
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"mine\.json: periods"):
        load_scenario(path)
    with pytest.raises(FileNotFoundError, match="standard"):
        load_scenario("no-such-scenario")
