"""The worker's producers ride out a broker outage: a lost connection during a coordinator lookup is
retried, anything else still raises; transactions outlast a few minutes without the broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError, TransactionalIdAuthorizationFailed

from streams import faust_fixes


class FakeClient:
    def __init__(self):
        self.metadata_updates = 0

    async def force_metadata_update(self):
        self.metadata_updates += 1
        return True


class FakeSender:
    _retry_backoff = 0.0

    def __init__(self):
        self.client = FakeClient()


def lookups(monkeypatch, outcomes):
    """aiokafka's lookup replaced by one that raises or returns ``outcomes`` in turn, as aiokafka wraps them."""
    calls = []

    async def lookup(sender, coordinator_type, key):
        calls.append(key)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise KafkaError(repr(outcome)) from outcome
        return outcome

    monkeypatch.setattr(faust_fixes, "_find_coordinator", lookup)
    return calls


def test_a_connection_lost_during_the_lookup_is_retried(monkeypatch):
    calls = lookups(monkeypatch, [KafkaConnectionError("closed"), KafkaConnectionError("closed"), 7])
    sender = FakeSender()
    found = asyncio.run(faust_fixes._find_coordinator_through_outages(sender, "transaction", "tid-1"))
    assert found == 7 and calls == ["tid-1"] * 3
    assert sender.client.metadata_updates == 2


def test_an_error_that_is_not_retryable_still_raises(monkeypatch):
    lookups(monkeypatch, [TransactionalIdAuthorizationFailed("no"), 7])
    with pytest.raises(KafkaError):
        asyncio.run(faust_fixes._find_coordinator_through_outages(FakeSender(), "transaction", "tid-1"))


def test_transactions_outlast_aiokafkas_default_timeout():
    class App:
        in_transaction = True

    class Producer:
        app = App()

    extra = faust_fixes._producer_settings_riding_out_outages(Producer())
    assert extra["transaction_timeout_ms"] == faust_fixes.TRANSACTION_TIMEOUT_S * 1000 > 60_000
    Producer.app.in_transaction = False
    assert "transaction_timeout_ms" not in faust_fixes._producer_settings_riding_out_outages(Producer())
