"""``pricestream calendar publish``'s checks: the worker's own decoder, all entries or none, defaults."""

import argparse
import json

import pytest

from pricestream.calendar_command import entries_from_file, run_calendar_command
from pricestream.settings import Settings

FAIR = {"calendar_id": "fair-2026", "kind": "holiday", "effect": "fair", "start_ms": 1000, "end_ms": 5000}


def write(tmp_path, data) -> str:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_an_entry_takes_defaults_and_the_same_content_gets_the_same_event_id(tmp_path):
    [entry] = entries_from_file(write(tmp_path, FAIR), now_ms=77)
    assert (entry.schema_version, entry.event_time_ms, entry.value, entry.expected_lift, entry.skus) == (1, 77, 1.0, None, None)
    [again] = entries_from_file(write(tmp_path, [FAIR]), now_ms=99)
    assert again.event_id == entry.event_id and again.event_time_ms == 99


def test_every_bad_entry_is_named_with_the_decoder_s_reason(tmp_path):
    bad = [FAIR, {**FAIR, "calendar_id": "empty", "end_ms": 1000}, {**FAIR, "calendar_id": "odd", "kind": "party"}, 5]
    with pytest.raises(ValueError) as caught:
        entries_from_file(write(tmp_path, bad))
    message = str(caught.value)
    assert "entry 1 (empty): empty-range" in message and "entry 2 (odd): schema-violation" in message
    assert "entry 3: expected a JSON object" in message and "entry 0" not in message


def test_a_bad_file_publishes_nothing_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, [FAIR, {**FAIR, "end_ms": 0}])
    # a broker at a port nothing listens on: reaching it would fail differently
    settings = Settings.from_env(bootstrap_servers="127.0.0.1:9")
    assert run_calendar_command(argparse.Namespace(action="publish", file=path, dry_run=False), settings) == 2
    assert "empty-range" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{not json")
    assert run_calendar_command(argparse.Namespace(action="publish", file=str(tmp_path / "broken.json"),
                                                   dry_run=False), settings) == 2


def test_a_dry_run_checks_and_prints_without_a_broker(tmp_path, capsys):
    path = write(tmp_path, [{**FAIR, "expected_lift": 2.0, "skus": ["A", "B"]}])
    settings = Settings.from_env(bootstrap_servers="127.0.0.1:9")
    assert run_calendar_command(argparse.Namespace(action="publish", file=path, dry_run=True), settings) == 0
    out = capsys.readouterr().out
    assert "fair-2026: holiday 'fair'" in out and "expected lift 2" in out and "2 SKUs" in out and "nothing published" in out
