"""Per-event cost of the worker's domain path, and what packing a SKU's state costs.

    .venv/bin/python benchmarks/per_event_cost.py

Prints JSON: microseconds to handle one click (decode, validate, apply); to pack a SKU's state for the
table and its changelog (once per SKU per commit, and when it leaves the live states) and to unpack
it (when it comes back), with the packed size in bytes; and microseconds per SKU of a tick (learn from
the period, decide) under a baseline and the learned policies. The state includes a learned demand model.
"""

import json
import timeit

from pricestream.domain.engine import Engine, EngineConfig
from pricestream.domain.intake import DictStore, Message, handle
from pricestream.domain.ticks import ticks_for
from schemas import examples as ex
from schemas.codec import encode
from streams.tables import pack_state, unpack_state

HOUR = 3_600_000


def warmed_up(config: EngineConfig, skus: int = 1) -> tuple[Engine, DictStore]:
    """An engine whose SKUs have two days of hourly ticks behind them: models in place."""
    engine, store = Engine(config), DictStore()
    for i in range(skus):
        sku = f"SKU-{i + 1}"
        handle(engine, Message("catalog", 0, i, sku.encode(), encode(ex.catalog_entry(sku=sku))), store, 65536)
        handle(engine, Message("inventory", 0, i, sku.encode(),
                               encode(ex.inventory(sku=sku, kind="count", quantity=500))), store, 65536)
    for t in range(48):
        [tick] = ticks_for(t * HOUR, 1)
        handle(engine, Message("clock", 0, t, b"0", encode(tick)), store, 65536)
    return engine, store


def tick_cost_us(config: EngineConfig, skus: int = 50, ticks: int = 20) -> float:
    """Microseconds per SKU of one tick: learning from the period and deciding."""
    engine, store = warmed_up(config, skus)
    start = 48

    def one_tick():
        nonlocal start
        [tick] = ticks_for(start * HOUR, 1)
        handle(engine, Message("clock", 0, start, b"0", encode(tick)), store, 65536)
        start += 1

    return timeit.timeit(one_tick, number=ticks) / ticks / skus * 1e6


def main() -> None:
    engine, store = warmed_up(EngineConfig())
    raw = encode(ex.click(t=48 * HOUR))
    offset = [100]

    def one_click():
        offset[0] += 1
        handle(engine, Message("clicks", 0, offset[0], b"SKU-1", raw), store, 65536)

    state = store[b"SKU-1"]
    packed = pack_state(state)
    n = 5000
    print(json.dumps({
        "handle_click_us": timeit.timeit(one_click, number=n) / n * 1e6,
        "pack_state_us": timeit.timeit(lambda: pack_state(state), number=n) / n * 1e6,
        "unpack_state_us": timeit.timeit(lambda: unpack_state(packed), number=n) / n * 1e6,
        "state_bytes": len(packed),
        "tick_per_sku_us_static": tick_cost_us(EngineConfig("static", "fixed-reorder")),
        "tick_per_sku_us_learned": tick_cost_us(EngineConfig("learned", "learned")),
    }, indent=2))


if __name__ == "__main__":
    main()
