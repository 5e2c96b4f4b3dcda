"""A ``ModelPrior`` warm-starts a SKU's demand model; the worker's path (intake) routes it. No Kafka, no Faust."""

from __future__ import annotations

import json

import pytest

from pricestream.domain.elasticity import DEFAULT_PRIOR_CONVERSION
from pricestream.domain.engine import Engine, EngineConfig, SkuState
from pricestream.domain.intake import DictStore, Message, handle
from pricestream.domain.ticks import ticks_for
from pricestream.domain.warm_start import seasonal_factor
from schemas import examples as ex
from schemas.codec import decode, encode, to_dict

HOUR = 3_600_000
T0 = 1_767_225_600_000             # 2026-01-01 00:00 UTC, a Thursday


def first_tick(engine, records, now=T0 + HOUR, period_ms=None):
    state = None
    for record in records:
        state = engine.apply(state, record).state
    outputs = engine.close(state, now, period_ms)
    return state, outputs


def test_a_prior_makes_the_demand_model_start_from_its_elasticity_and_sd():
    prior = ex.model_prior(elasticity=-3.1, elasticity_sd=0.4)
    state, outputs = first_tick(Engine(EngineConfig()), [ex.catalog_entry(), prior])
    est = state.demand.elasticity
    assert est.prior_mean[1] == est.elasticity == -3.1
    assert est.elasticity_sd == pytest.approx(0.4)
    [forecast] = [o for o in outputs if o.TOPIC == "demand-forecasts"]
    assert (forecast.elasticity, forecast.elasticity_sd) == (-3.1, pytest.approx(0.4))


def test_without_a_prior_the_pool_stands():
    state, _ = first_tick(Engine(EngineConfig()), [ex.catalog_entry()])
    assert state.demand.elasticity.elasticity == -2.0 and state.demand.elasticity.elasticity_sd == pytest.approx(1.0)


def test_the_conversion_makes_the_first_periods_views_sell_the_prior_level():
    # 2 units an hour at the reference price 20 = list price; 50 views in the hour just closed: 4 %
    clicks = [ex.click(t=T0 + i, event_id=f"c{i}") for i in range(50)]
    state, _ = first_tick(Engine(EngineConfig()), [ex.catalog_entry(list_price=20.0), ex.model_prior(), *clicks])
    assert state.demand.elasticity.conversion(20.0, None) == pytest.approx(2.0 / 50)


def test_the_conversion_follows_the_profiles_the_period_length_and_the_list_price():
    daily = [0.5] * 12 + [1.5] * 12
    weekly = [1.0, 1.0, 1.0, 1.4, 1.0, 0.8, 0.8]
    prior = ex.model_prior(elasticity=-2.0, units_per_period=2.0, daily_profile=daily, weekly_profile=weekly,
                           reference_price=20.0)
    clicks = [ex.click(t=T0 + 13 * HOUR + i, event_id=f"c{i}") for i in range(100)]
    now = T0 + 15 * HOUR                    # a two-hour period, 13:00 to 15:00 on a Thursday
    state, _ = first_tick(Engine(EngineConfig()), [ex.catalog_entry(list_price=25.0, max_price=30.0), prior,
                                                   *clicks], now=now, period_ms=2 * HOUR)
    assert seasonal_factor(prior, T0 + 14 * HOUR) == pytest.approx(1.5 * 1.4)
    expected_units = 2.0 * 2 * 1.5 * 1.4
    assert state.demand.elasticity.conversion(25.0, None) == pytest.approx(expected_units / 100 * (25 / 20) ** -2.0)


def test_without_views_in_the_first_period_the_default_conversion_stands():
    state, _ = first_tick(Engine(EngineConfig()), [ex.catalog_entry(), ex.model_prior()])
    assert state.demand.elasticity.conversion(20.0, None) == pytest.approx(DEFAULT_PRIOR_CONVERSION)


def test_a_prior_after_the_model_exists_only_changes_what_it_forgets_toward():
    engine = Engine(EngineConfig("static"))
    state, _ = first_tick(engine, [ex.catalog_entry()])
    for i in range(1, 6):
        state.period.views, state.period.units = 40, 1
        engine.close(state, T0 + (i + 1) * HOUR, HOUR)
    before = state.demand.to_state()
    state = engine.apply(state, ex.model_prior(t=T0, elasticity=-3.5, elasticity_sd=0.5)).state
    after = state.demand.elasticity
    assert after.mean == before["elasticity"]["mean"] and after.precision == before["elasticity"]["precision"]
    assert after.periods == 5
    assert after.prior_mean[1] == -3.5 and after.prior_precision_diag[1] == pytest.approx(4.0)


def test_the_latest_prior_by_event_time_wins_whatever_the_arrival_order():
    old, new = ex.model_prior(t=100, elasticity=-1.5), ex.model_prior(t=200, elasticity=-2.7)
    engine = Engine(EngineConfig())
    for order in ((old, new), (new, old)):
        state, _ = first_tick(engine, [ex.catalog_entry(), *order])
        assert state.model_prior == new and state.demand.elasticity.elasticity == -2.7


def test_the_prior_survives_the_state_round_trip_and_old_states_load_without_one():
    state, _ = first_tick(Engine(EngineConfig()), [ex.catalog_entry(), ex.model_prior(daily_profile=[1.0] * 24)])
    d = json.loads(json.dumps(state.to_dict()))
    assert SkuState.from_dict(d).model_prior == state.model_prior
    del d["model_prior"]
    assert SkuState.from_dict(d).model_prior is None


# -- through intake: bytes in, as the worker and the simulator run it -------------------------------------
def deliver(engine, store, topic, key, value, offset, partition=0):
    return handle(engine, Message(topic, partition, offset, key, value), store, 65536)


def deliver_record(engine, store, record, offset):
    key = record.sku.encode() if hasattr(record, "sku") else b"0"
    return deliver(engine, store, record.TOPIC, key, encode(record), offset)


def test_a_prior_before_the_catalog_entry_waits_for_it_and_is_not_a_dead_letter():
    engine, store = Engine(EngineConfig()), DictStore()
    [tick1] = ticks_for(T0, 1)
    [tick2] = ticks_for(T0 + HOUR, 1)
    assert deliver_record(engine, store, ex.model_prior(elasticity=-2.9), 0).outputs == []
    assert deliver_record(engine, store, tick1, 0).outputs == []          # unlisted: nothing to decide, nothing lost
    assert store[b"SKU-1"].model_prior.elasticity == -2.9
    deliver_record(engine, store, ex.catalog_entry(), 0)
    outputs = deliver_record(engine, store, tick2, 1).outputs
    [forecast] = [o for o in outputs if o.TOPIC == "demand-forecasts"]
    assert forecast.elasticity == -2.9


def test_a_tombstone_drops_the_stored_prior():
    engine, store = Engine(EngineConfig()), DictStore()
    deliver_record(engine, store, ex.catalog_entry(), 0)
    deliver_record(engine, store, ex.model_prior(), 0)
    assert deliver(engine, store, "model-priors", b"SKU-1", None, 1).outputs == []
    assert store[b"SKU-1"].model_prior is None and store[b"SKU-1"].catalog is not None
    assert deliver(engine, store, "model-priors", b"NOBODY", None, 2).outputs == []
    assert store.get(b"NOBODY") is None


@pytest.mark.parametrize("change, code", [
    ({"elasticity_sd": -0.5}, "schema-violation"),
    ({"elasticity_sd": 0.0}, "schema-violation"),
    ({"elasticity": 1e999}, "non-finite-number"),
    ({"elasticity": -400.0}, "schema-violation"),
    ({"reference_price": 0.0}, "non-positive-price"),
    ({"units_per_period": -1.0}, "schema-violation"),
    ({"daily_profile": [1.0] * 23}, "schema-violation"),
    ({"weekly_profile": [1.0] * 6 + [-1.0]}, "schema-violation"),
])
def test_a_bad_prior_is_dead_lettered_by_the_schema(change, code):
    raw = json.dumps({**to_dict(ex.model_prior()), **change}).encode()
    assert decode("model-priors", b"SKU-1", raw, 65536).error_code == code
    nan = encode(ex.model_prior()).replace(b'"elasticity":-2.5', b'"elasticity":NaN')
    assert decode("model-priors", b"SKU-1", nan, 65536).error_code == "non-finite-number"
