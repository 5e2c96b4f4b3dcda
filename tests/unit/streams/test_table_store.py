"""The state table's store: the states in use stay unpacked, the rest rest packed, and nothing is lost
between the two or skipped at the commit."""

from __future__ import annotations

from types import SimpleNamespace

from pricestream.domain.engine import Engine, EngineConfig
from schemas import examples as ex
from streams.tables import TableStore, pack_state, unpack_state


class FakeTable(dict):
    """What TableStore uses of a Faust table: a mapping, its store (``data``) and the key's partition."""

    def __init__(self, in_transaction: bool):
        super().__init__()
        self.data = self                  # a memory store is the table's own mapping
        self.app = SimpleNamespace(in_transaction=in_transaction)
        self.changelog_topic = "sku-state-changelog"
        self.writes = 0

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)

    def partition_for_key(self, key):
        return int(key.split(b"-")[1]) % 3


class FakeGate:
    def __init__(self):
        self.stores, self.touched = [], []

    def touch(self, store, partition, key):
        self.touched.append((partition, key))


def state(sku: str, views: int = 0):
    s = Engine(EngineConfig()).apply(None, ex.catalog_entry(sku=sku)).state
    s.views = views
    return s


def test_without_a_gate_every_write_is_packed_into_the_table_and_reads_come_back_equal():
    table = FakeTable(in_transaction=False)
    store = TableStore(table, live_max=2)
    for i in range(5):
        store.put(f"S-{i}".encode(), state(f"S-{i}", views=i))
    assert table.writes == 5 and all(isinstance(v, bytes) for v in table.values())
    assert unpack_state(table[b"S-3"]).views == 3
    assert store.get(b"S-0").views == 0                 # long evicted from the live states: unpacked again
    assert store.get(b"S-9") is None


def test_with_a_gate_writes_only_mark_the_key_and_an_evicted_state_is_packed_into_the_store_first():
    table, gate = FakeTable(in_transaction=True), FakeGate()
    store = TableStore(table, gate, live_max=2)
    first = state("S-1", views=7)
    store.put(b"S-1", first)
    assert table.writes == 0 and gate.touched == [(1, b"S-1")]
    first.views += 1                                    # the domain changes states in place
    assert store.get(b"S-1") is first
    store.put(b"S-2", state("S-2"))
    store.put(b"S-4", state("S-4"))                     # a third: S-1, the least recently used, leaves
    assert unpack_state(table[b"S-1"]).views == 8       # packed as it was when it left, nothing lost
    assert store.get(b"S-1").to_dict() == first.to_dict()
    assert set(gate.touched) == {(1, b"S-1"), (2, b"S-2"), (1, b"S-4")}


def test_a_recently_read_state_is_kept_and_the_oldest_leaves():
    table, gate = FakeTable(in_transaction=True), FakeGate()
    store = TableStore(table, gate, live_max=2)
    store.put(b"S-1", state("S-1"))
    store.put(b"S-2", state("S-2"))
    store.get(b"S-1")                                   # S-1 is used again: S-2 is now the oldest
    store.put(b"S-3", state("S-3"))
    assert b"S-2" in table and b"S-1" not in table


def test_forgetting_a_partition_drops_its_live_states_only():
    table, gate = FakeTable(in_transaction=True), FakeGate()
    store = TableStore(table, gate, live_max=10)
    assert gate.stores == [store]
    for i in (1, 2, 4):
        store.put(f"S-{i}".encode(), state(f"S-{i}"))
    store.forget({1})                                   # S-1 and S-4 are in partition 1 (i % 3)
    assert store.get(b"S-1") is None and store.get(b"S-4") is None
    assert store.get(b"S-2") is not None


def test_a_packed_state_is_a_fraction_of_its_json():
    s = state("S-1")
    assert unpack_state(pack_state(s)).to_dict() == s.to_dict()
