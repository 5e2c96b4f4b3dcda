"""Per-event cost of the worker's domain path, and of the changelog write each event causes.

    .venv/bin/python benchmarks/per_event_cost.py

Prints JSON: microseconds to handle one click (decode, validate, apply) and to serialise the SKU's
state for the changelog (Faust does this on every table write), with that state's size in bytes.
The state includes a learned demand model; the second figure is what issue #9 has to bring down.
"""

import json
import timeit

from pricestream.domain.engine import Engine, EngineConfig
from pricestream.domain.intake import DictStore, Message, handle
from pricestream.domain.ticks import ticks_for
from schemas import examples as ex
from schemas.codec import encode
from streams.tables import SkuStateCodec

HOUR = 3_600_000


def main() -> None:
    engine, store = Engine(EngineConfig()), DictStore()
    handle(engine, Message("catalog", 0, 0, b"SKU-1", encode(ex.catalog_entry())), store, 65536)
    for t in range(48):                                   # two days of hourly ticks: models in place
        [tick] = ticks_for(t * HOUR, 1)
        handle(engine, Message("clock", 0, t, b"0", encode(tick)), store, 65536)
    raw = encode(ex.click(t=48 * HOUR))
    offset = [100]

    def one_click():
        offset[0] += 1
        handle(engine, Message("clicks", 0, offset[0], b"SKU-1", raw), store, 65536)

    codec = SkuStateCodec()
    n = 5000
    print(json.dumps({
        "handle_click_us": timeit.timeit(one_click, number=n) / n * 1e6,
        "changelog_encode_us": timeit.timeit(lambda: codec._dumps(store[b"SKU-1"]), number=n) / n * 1e6,
        "state_bytes": len(codec._dumps(store[b"SKU-1"])),
    }, indent=2))


if __name__ == "__main__":
    main()
