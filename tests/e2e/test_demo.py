"""The README's main command, run as a user runs it (against the test broker, one simulated day)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_the_demo_prints_decisions_dead_letters_and_the_report(kafka_broker, tmp_path):
    env = {**os.environ, **kafka_broker.settings.replace(home=tmp_path).to_env()}
    run = subprocess.run([sys.executable, "-m", "pricestream.cli", "demo", "--days", "1", "--external"],
                         env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout
    assert run.returncode == 0, run.stderr[-3000:] + out[-3000:]
    assert out.count("PRICE ") >= 20                       # every SKU is listed, then moves follow
    assert out.count("[dead letter]") == 3                  # the three malformed events, with reasons
    assert "malformed-json" in out and "non-positive-price" in out and "unknown-sku" in out
    assert "total" in out and "profit" in out              # the report against the oracle
    assert "3 dead letters" in out
    assert "smaller price moves not shown" in out           # the learned policy's small moves are counted
