"""Per-SKU state tables, backed by changelog topics so state survives restarts and moves with partitions."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import faust
import orjson

from pricestream.domain.engine import SkuState
from pricestream.domain.intake import PartitionIndex
from pricestream.settings import STATE_TABLE, Settings
from streams.faust_fixes import changelog_message, put_in_store


def pack_state(value: SkuState | PartitionIndex) -> bytes:
    """A state as it rests in the table and its changelog: JSON, zlib-compressed (4-5 KB -> 1.4 KB)."""
    return zlib.compress(orjson.dumps(value.to_dict()), 1)


def unpack_state(data: bytes) -> SkuState | PartitionIndex:
    """The state from :func:`pack_state`'s bytes, or from plain JSON (changelogs written before packing)."""
    d = orjson.loads(data if data[:1] == b"{" else zlib.decompress(data))
    return PartitionIndex.from_dict(d) if d.get("kind") == PartitionIndex.KIND else SkuState.from_dict(d)


@dataclass
class Tables:
    sku_state: faust.types.TableT   # key: SKU as bytes (the message key), or partition_key(p); value: packed state


class TableStore:
    """The domain's StateStore protocol over the state table: objects for the SKUs in use, bytes at rest.

    A SKU's state as Python objects (models, lists of floats) takes 15-20 KB; packed, 1.4 KB. The table
    (and so its changelog, and what a restarted worker recovers) holds packed bytes; the ``live_max``
    states used last are kept unpacked here, as Kafka Streams keeps a cache in front of its store.

    Writes: with a transaction gate (exactly_once), ``put`` only marks the key, and the gate asks for
    its packed value at the next commit (``changelog_message``): a SKU written by a hundred events
    between two commits is packed and sent once. Without one (at_least_once, Faust's test context), a
    write is packed and stored through Faust at once.
    """

    def __init__(self, table: faust.types.TableT, gate=None, live_max: int = 10_000):
        self._table, self._gate, self.live_max = table, gate, live_max
        self._live: dict[bytes, tuple[SkuState | PartitionIndex, int]] = {}     # key -> (state, partition), oldest first
        self._deferred = None       # known at the first write: the app is not a running worker before
        if gate is not None:
            gate.stores.append(self)

    def get(self, key: bytes) -> SkuState | PartitionIndex | None:
        entry = self._live.pop(key, None)
        if entry is not None:
            self._live[key] = entry                 # the most recently used go last
            return entry[0]
        data = self._table.get(key)
        if data is None:
            return None
        value = unpack_state(data)
        self._keep(key, value)
        return value

    def put(self, key: bytes, value: SkuState | PartitionIndex) -> None:
        if self._deferred is None:
            self._deferred = self._gate is not None and self._table.app.in_transaction
        partition = self._keep(key, value)
        if self._deferred:
            self._gate.touch(self, partition, key)
        else:
            self._table[key] = pack_state(value)

    def delete(self, key: bytes) -> None:
        self._live.pop(key, None)
        self._table.pop(key, None)          # a tombstone in the changelog (through the gate when there is one)

    @property
    def changelog_topic(self):
        return self._table.changelog_topic

    def changelog_message(self, partition: int, key: bytes):
        """A marked key's changelog write, as it is now (a tombstone if it was deleted since)."""
        entry = self._live.get(key)
        if entry is not None:
            data = pack_state(entry[0])
            put_in_store(self._table, partition, key, data)        # not through Faust's write path: no second send
        else:
            data = self._table.data.get(key)                        # packed when it left the live states
        return changelog_message(self._table, partition, key, data)

    def forget(self, partitions: set[int]) -> None:
        """Drop the live states of partitions this worker no longer has (their writes are dropped too)."""
        for key in [k for k, (_, p) in self._live.items() if p in partitions]:
            del self._live[key]

    def _keep(self, key: bytes, value) -> int:
        entry = self._live.pop(key, None)
        # a live key knows its partition: no hashing of the key again on every event's write
        partition = entry[1] if entry is not None else self._table.partition_for_key(key)
        self._live[key] = (value, partition)
        while len(self._live) > self.live_max:
            old_key = next(iter(self._live))
            old_value, old_partition = self._live.pop(old_key)
            if self._deferred:      # (otherwise the table has it already)
                # packed into the store only: a pending mark still sends it at the commit, from there
                put_in_store(self._table, old_partition, old_key, pack_state(old_value))
        return partition


# Kafka compacts only closed segments, and by default a segment closes at 1 GiB or after 7 days: the
# changelog would keep every write of the week (a busy SKU is written at every commit) and a restarted
# worker would read them all. Segments that close at 4 MiB or after 5 minutes, cleaned once a fifth of
# the log is stale, keep what recovery reads near one record per SKU. (Applied when Faust creates the
# changelog; an existing one keeps its settings: see the README's Sizing.)
CHANGELOG_CONFIG = {"segment.bytes": str(4 * 2**20), "segment.ms": str(5 * 60_000),
                    "min.cleanable.dirty.ratio": "0.2"}


def declare_tables(app: faust.App, settings: Settings) -> Tables:
    return Tables(sku_state=app.Table(
        # bytes both: Faust reads and writes them raw (pack_state and unpack_state are the codec)
        STATE_TABLE, default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes,
        extra_topic_configs=CHANGELOG_CONFIG,
        help="Per-SKU catalogue, price, competitors, stock, demand models and counters."))
