"""What a rebalance does to a worker's state, with several workers in one group: a kept partition is not
read again, a standby copy is kept and taken over from where it is, a rebalance in the middle of a
recovery starts it over, and a partition kept only as a standby copy loses its live (unpacked) states.

``tests/e2e/test_scale_out.py`` (``pricestream scale-test``) runs workers joining and leaving on the real
broker; these pin down each patch's decision.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.tables.recovery import RebalanceAgain
from faust.types import TP

from streams import faust_recovery
from streams.faust_fixes import TransactionGate, _on_rebalance_forgetting_revoked

CHANGELOG = "pricestream-sku-state-changelog"


def tp(partition: int, topic: str = CHANGELOG) -> TP:
    return TP(topic, partition)


class FakeRecovery:
    """The parts of Faust's ``Recovery`` the patches use."""

    def __init__(self, standby_offsets: dict | None = None, previous: set | None = None):
        self.active_tps: set = set()
        self.actives_for_table: dict = {}
        self.tp_to_table: dict = {}
        self.active_offsets: dict = {}
        self.standby_offsets = dict(standby_offsets or {})
        self._pricestream_previous = set(previous or ())
        self.signal_recovery_start = asyncio.Event()

    def _add(self, table, partition_tp, offsets):       # as Faust: no persisted offset in memory
        self.tp_to_table[partition_tp] = table
        offsets.setdefault(partition_tp, None)


def add_active(recovery: FakeRecovery, partition_tp: TP) -> None:
    recovery.actives_for_table.setdefault("table", set())
    faust_recovery.add_active_from_its_standby_copy(recovery, "table", partition_tp)


def build_highwaters(recovery: FakeRecovery, ends: dict) -> dict:
    async def faust_builds(self, consumer, tps, destination, title):
        destination.update({t: ends[t] for t in tps})

    original, faust_recovery._build_highwaters = faust_recovery._build_highwaters, faust_builds
    try:
        destination: dict = {}
        asyncio.run(faust_recovery.build_highwaters_saying_what_is_read(recovery, None, set(ends), destination,
                                                                         "active"))
        return destination
    finally:
        faust_recovery._build_highwaters = original


def test_a_partition_the_worker_kept_and_had_recovered_is_not_read_again():
    recovery = FakeRecovery(previous={tp(3)})
    recovery.active_offsets[tp(3)] = 40         # where the last recovery stopped reading
    add_active(recovery, tp(3))
    build_highwaters(recovery, {tp(3): 90})
    # nothing between 40 and 90 is read back: those are this worker's own writes, in memory already
    assert recovery.active_offsets[tp(3)] == 90


def test_a_partition_taken_over_from_its_standby_copy_is_read_from_where_the_copy_is(caplog):
    recovery = FakeRecovery(standby_offsets={tp(5): 120})
    add_active(recovery, tp(5))
    assert recovery.active_offsets[tp(5)] == 120
    with caplog.at_level("INFO", logger="faust.tables.recovery"):
        build_highwaters(recovery, {tp(5): 130})
    assert recovery.active_offsets[tp(5)] == 120        # recovery reads 121..130 only
    assert "taken over from its standby copy at offset 120 of 130" in caplog.text


def test_a_new_partition_without_a_copy_is_read_from_the_changelog_start(caplog):
    recovery = FakeRecovery(standby_offsets={tp(5): 120}, previous={tp(5)})
    add_active(recovery, tp(7))
    with caplog.at_level("INFO", logger="faust.tables.recovery"):
        build_highwaters(recovery, {tp(7): 60})
    assert recovery.active_offsets[tp(7)] is None
    assert "read from the changelog's start: 61 offsets" in caplog.text


def test_only_a_recovery_that_completed_in_the_current_generation_counts_as_recovered():
    completed: list = []

    async def faust_completed(self, generation_id=0):
        completed.append(generation_id)

    async def faust_on_rebalance(self, assigned, revoked, newly_assigned, generation_id=0):
        pass

    recovery = FakeRecovery()
    recovery.active_tps = {tp(1), tp(2)}
    recovery.app = SimpleNamespace(consumer_generation_id=7)
    originals = faust_recovery._on_recovery_completed, faust_recovery._recovery_on_rebalance
    faust_recovery._on_recovery_completed, faust_recovery._recovery_on_rebalance = faust_completed, faust_on_rebalance
    try:
        asyncio.run(faust_recovery.on_recovery_completed_remembering(recovery, generation_id=6))   # stale
        assert getattr(recovery, "_pricestream_recovered", set()) == set()
        asyncio.run(faust_recovery.on_recovery_completed_remembering(recovery, generation_id=7))
        assert recovery._pricestream_recovered == {tp(1), tp(2)}
        # the next rebalance: those are what the worker had; nothing counts as recovered in the new one yet
        recovery.app.consumer_generation_id = 8
        asyncio.run(faust_recovery.on_rebalance_knowing_what_is_recovered(recovery, set(), set(), set(), 8))
        assert recovery._pricestream_previous == {tp(1), tp(2)} and recovery._pricestream_recovered == set()
        # and if that one is replaced before it completes, the one after keeps nothing
        recovery.app.consumer_generation_id = 9
        asyncio.run(faust_recovery.on_rebalance_knowing_what_is_recovered(recovery, set(), set(), set(), 9))
        assert recovery._pricestream_previous == set()
    finally:
        faust_recovery._on_recovery_completed, faust_recovery._recovery_on_rebalance = originals
    assert completed == [6, 7]


@pytest.mark.parametrize("newer_rebalance, offsets", [(True, {tp(1): 4}), (False, {tp(1): None})])
def test_a_rebalance_in_the_middle_of_a_recovery_starts_it_over(newer_rebalance, offsets):
    recovery = FakeRecovery()
    if newer_rebalance:
        recovery.signal_recovery_start.set()
    with pytest.raises(RebalanceAgain):
        asyncio.run(faust_recovery.seek_offsets_unless_rebalanced(recovery, None, {tp(1)}, offsets, "active"))


def test_the_memory_store_keeps_its_standby_copies_after_a_recovery():
    store = SimpleNamespace(data={b"a": 1, b"b": 2, b"c": 3}, _key_partition={b"a": 0, b"b": 1, b"c": 2})
    asyncio.run(faust_recovery.keep_standby_partitions(store, {tp(0)}, {tp(1)}))
    assert store.data == {b"a": 1, b"b": 2} and store._key_partition == {b"a": 0, b"b": 1}


def test_a_partition_kept_only_as_a_standby_copy_forgets_its_live_states():
    forgotten: list = []
    the_gate = TransactionGate()
    the_gate.stores.append(SimpleNamespace(forget=forgotten.append))
    the_gate.processed = {tp(4, "clicks"): 10, tp(6, "clicks"): 3}
    the_gate.unpublished = {(CHANGELOG, 4, b"sku"): object(), (CHANGELOG, 6, b"sku2"): object()}
    standbys = {tp(4)}
    manager = SimpleNamespace(
        app=SimpleNamespace(_pricestream_gate=the_gate, assignor=SimpleNamespace(is_standby=standbys.__contains__)),
        consumer=None, producer=SimpleNamespace(_transaction_producers={}),
        _tps_to_transactional_ids=lambda tps: set())

    async def faust_on_rebalance(self, assigned, revoked, newly_assigned):
        pass

    from streams import faust_fixes
    original, faust_fixes._on_rebalance = faust_fixes._on_rebalance, faust_on_rebalance
    try:
        # partition 4 moved to another worker and stays here as a standby; 6 stays active here
        assigned = {tp(4), tp(6), tp(6, "clicks")}
        revoked = {tp(4, "clicks"), tp(4)}
        asyncio.run(_on_rebalance_forgetting_revoked(manager, assigned, revoked, set()))
    finally:
        faust_fixes._on_rebalance = original
    assert forgotten == [{4}]
    assert list(the_gate.unpublished) == [(CHANGELOG, 6, b"sku2")]
    assert the_gate.processed == {tp(6, "clicks"): 3}
