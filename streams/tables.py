"""Per-SKU state tables, backed by changelog topics so state survives restarts and moves with partitions."""

from __future__ import annotations

from dataclasses import dataclass

import faust
import orjson
from faust.serializers import codecs

from pricestream.domain.engine import SkuState
from pricestream.settings import Settings

SKU_STATE_CODEC = "sku-state"


class SkuStateCodec(codecs.Codec):
    """SkuState <-> JSON bytes, for the table's changelog."""

    def _dumps(self, state: SkuState) -> bytes:
        return orjson.dumps(state.to_dict())

    def _loads(self, data: bytes) -> SkuState:
        return SkuState.from_dict(orjson.loads(data))


codecs.register(SKU_STATE_CODEC, SkuStateCodec())


@dataclass
class Tables:
    sku_state: faust.types.TableT       # key: SKU as bytes (the message key), value: SkuState


def declare_tables(app: faust.App, settings: Settings) -> Tables:
    return Tables(sku_state=app.Table(
        "sku-state", default=None, partitions=settings.partitions,
        schema=faust.Schema(key_serializer="raw", value_serializer=SKU_STATE_CODEC),
        help="Per-SKU catalogue, price, competitors, stock and counters."))
