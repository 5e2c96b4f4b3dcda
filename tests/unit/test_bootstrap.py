"""``pricestream bootstrap``: priors fitted from a synthetic order history whose truth is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pricestream.bootstrap import BootstrapError, bootstrap
from pricestream.cli import main
from schemas.codec import decode, encode
from schemas.records import ModelPrior
from tests.unit.orders_history import HOUR, PEAK_HOUR, START, TRUE_ELASTICITY, WEEKS, history, write


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    path = write(tmp_path_factory.mktemp("orders"), history())
    return bootstrap(path, progress=None)


def by_sku(result):
    return {f.sku: f for f in result.fits}


def test_the_fit_recovers_the_elasticity_and_the_daily_peak_hour(fitted):
    vary = by_sku(fitted)["VARY"]
    assert not vary.pooled
    assert abs(vary.elasticity - TRUE_ELASTICITY) < 0.3
    assert 0.25 <= vary.elasticity_sd <= 1.5          # the GLM's standard error, floored at 0.25
    assert int(np.argmax(vary.daily_profile)) == PEAK_HOUR
    assert np.mean(vary.daily_profile) == pytest.approx(1.0, abs=1e-3)
    assert np.mean(vary.weekly_profile) == pytest.approx(1.0, abs=1e-3)
    assert vary.reference_price == pytest.approx(20.0, rel=0.1)      # the median price paid, per unit
    # the level: mean units per hour over the last four weeks, about 3 x E[(p/20)^-2.5] ~ 3.2
    assert 2.8 < vary.units_per_period < 3.7
    assert vary.periods == 24 * 7 * WEEKS


def test_a_sku_whose_price_never_varied_gets_the_pooled_elasticity_with_a_wide_sd(fitted):
    flat = by_sku(fitted)["FLAT"]
    assert flat.pooled and flat.price_log_std == 0.0
    assert flat.elasticity == pytest.approx(by_sku(fitted)["VARY"].elasticity) == fitted.pooled_elasticity
    assert flat.elasticity_sd >= 1.0
    assert int(np.argmax(flat.daily_profile)) in (PEAK_HOUR - 1, PEAK_HOUR, PEAK_HOUR + 1)


def test_with_no_sku_to_pool_the_default_elasticity_stands(tmp_path):
    result = bootstrap(write(tmp_path, history(skus=(("FLAT", -1.0, 1.0, 0.0),))), progress=None)
    [flat] = result.fits
    assert (flat.elasticity, flat.elasticity_sd, flat.pooled) == (-2.0, 1.5, True)


def test_malformed_rows_are_skipped_and_counted_not_fatal(tmp_path):
    bad = ["VARY,notatime,1,20", "VARY,1767225600000,0,20", "VARY,1767225600000,2.5,20",
           "VARY,1767225600000,1,-3", "VARY,1767225600000,1,abc", ",1767225600000,1,20", "BAD SKU!,1767225600000,1,20",
           "VARY,1767225600000,1,20,surplus"]
    result = bootstrap(write(tmp_path, [*history()[:2000], *bad]), progress=None)
    assert result.stats.used == 2000 and result.stats.skipped == len(bad) and result.stats.rows == 2000 + len(bad)
    assert dict(result.stats.malformed) == {"invalid event_time_ms": 1, "invalid quantity": 2,
                                            "invalid unit_price": 2, "invalid sku": 2, "wrong number of fields": 1}
    assert [f.sku for f in result.fits] == ["VARY"]


def test_an_iso_time_column_fits_the_same_as_milliseconds(tmp_path):
    rows = history()[:3000]
    iso = []
    for row in rows:
        sku, t, q, p = row.split(",")
        iso.append(f"{sku},{np.datetime64(int(t), 'ms').astype(str)}Z,{q},{p}")
    by_ms = bootstrap(write(tmp_path, rows), progress=None)
    by_iso = bootstrap(write(tmp_path, iso, header="SKU,Time,quantity,unit_price", name="iso.csv"), progress=None)
    assert by_iso.fits == by_ms.fits and by_iso.end_ms == by_ms.end_ms


@pytest.mark.parametrize("header, rows, message", [
    ("sku,event_time_ms,quantity", ["A,1,1"], "no column 'unit_price'"),
    ("sku,quantity,unit_price", ["A,1,1"], "no column 'event_time_ms' or 'time'"),
    ("sku,event_time_ms,quantity,unit_price", ["A,x,1,2", "A,1,0,2"], "none of its 2 rows is a usable order line"),
])
def test_an_unusable_file_is_a_clear_error(tmp_path, header, rows, message):
    with pytest.raises(BootstrapError, match=message):
        bootstrap(write(tmp_path, rows, header=header), progress=None)


def test_progress_is_reported_every_n_skus(tmp_path):
    rows = [f"S{i},{START + i * HOUR},1,{10 + i % 3}" for i in range(5)]
    lines = []
    bootstrap(write(tmp_path, rows), progress=lines.append, progress_every=2)
    assert lines == ["fitted 2 of 5 SKUs", "fitted 4 of 5 SKUs"]


def test_the_priors_are_valid_model_prior_records(fitted):
    priors = fitted.priors()
    assert [p.sku for p in priors] == ["FLAT", "VARY"]
    for prior in priors:
        assert decode(ModelPrior.TOPIC, prior.sku.encode(), encode(prior), 65536) == prior
        assert prior.period_ms == HOUR and prior.event_time_ms == START + 24 * 7 * WEEKS * HOUR
        assert len(prior.daily_profile) == 24 and len(prior.weekly_profile) == 7


def test_the_command_dry_run_prints_a_summary_and_writes_json(tmp_path, capsys):
    orders = write(tmp_path, [*history()[:3000], "VARY,x,1,20"])
    out = tmp_path / "priors.json"
    assert main(["bootstrap", "--orders", str(orders), "--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "VARY" in printed and "1 skipped (1 invalid event_time_ms)" in printed and "nothing published" in printed
    written = json.loads(out.read_text())
    assert written["summary"]["rows_skipped"] == 1
    assert [ModelPrior(**p).sku for p in written["priors"]] == ["VARY"]


def test_the_command_reports_a_bad_file_without_a_traceback(tmp_path, capsys):
    assert main(["bootstrap", "--orders", str(tmp_path / "missing.csv"), "--dry-run"]) == 2
    assert "no such file" in capsys.readouterr().err
