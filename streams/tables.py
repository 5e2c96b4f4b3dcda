"""Per-SKU state tables, backed by changelog topics so state survives restarts and moves with partitions."""

from __future__ import annotations

from dataclasses import dataclass

import faust
import orjson
from faust.serializers import codecs

from pricestream.domain.engine import SkuState
from pricestream.domain.intake import PartitionIndex
from pricestream.settings import Settings

SKU_STATE_CODEC = "sku-state"


class SkuStateCodec(codecs.Codec):
    """SkuState or PartitionIndex <-> JSON bytes, for the table's changelog."""

    def _dumps(self, value: SkuState | PartitionIndex) -> bytes:
        return orjson.dumps(value.to_dict())

    def _loads(self, data: bytes) -> SkuState | PartitionIndex:
        d = orjson.loads(data)
        return PartitionIndex.from_dict(d) if d.get("kind") == PartitionIndex.KIND else SkuState.from_dict(d)


codecs.register(SKU_STATE_CODEC, SkuStateCodec())


@dataclass
class Tables:
    sku_state: faust.types.TableT   # key: SKU as bytes (the message key) -> SkuState; partition_key(p) -> PartitionIndex


class TableStore:
    """The domain's StateStore protocol over a Faust table (writes go to its changelog).

    With a transaction gate (exactly_once), writing back the object a key already holds (the domain
    updates a SKU's state in place) only marks the key for the next commit's changelog write, which
    skips Faust's per-write bookkeeping in the per-event path.
    """

    def __init__(self, table: faust.types.TableT, gate=None):
        self.get = table.get
        self.delete = lambda key: table.pop(key, None)
        self._table, self._data, self._gate = table, table.data, gate
        self._in_place = None       # known at the first write: the app is not a running worker before

    def put(self, key: bytes, value) -> None:
        if self._in_place is None:
            self._in_place = self._gate is not None and self._table.app.in_transaction
        if self._in_place and self._data.get(key) is value:
            self._gate.touch(self._table, self._table.partition_for_key(key), key)
        else:
            self._table[key] = value


class StoredState:
    """The table's value type, as Faust wants to be told: its codec, and how to rebuild a value.

    Faust writes changelog entries with the serializer it derives from the table's value type and
    reads them back through the same type; naming the codec here keeps both sides on ``sku-state``.
    """

    class _options:
        serializer = SKU_STATE_CODEC

    @classmethod
    def from_data(cls, value, preferred_type=None):
        return value            # the codec has already built the SkuState or PartitionIndex


def declare_tables(app: faust.App, settings: Settings) -> Tables:
    return Tables(sku_state=app.Table(
        "sku-state", default=None, partitions=settings.partitions, key_type=bytes, value_type=StoredState,
        help="Per-SKU catalogue, price, competitors, stock, demand models and counters."))
