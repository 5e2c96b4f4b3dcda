"""The live clock: ticks every partition each ``clock_interval_s`` of wall time, when turned on.

Only here does the wall clock enter, and only to say *when* a period ends. The ticks are written to
the ``clock`` topic, so a replay of the topics reproduces the same periods and the same decisions.
"""

from __future__ import annotations

import time

from pricestream.domain.ticks import tick_time, ticks_for
from schemas.codec import encode


def register_live_clock(worker) -> None:
    settings = worker.settings
    if settings.clock_interval_s <= 0:
        return
    last = {"sent": None}

    @worker.app.timer(interval=settings.clock_interval_s, on_leader=True)
    async def live_clock():
        period_end = tick_time(time.time(), settings.clock_interval_s)
        if period_end == last["sent"]:
            return
        for tick in ticks_for(period_end, settings.partitions):
            await worker.topics.clock.send(key=str(tick.partition).encode(), value=encode(tick),
                                           partition=tick.partition)
        last["sent"] = period_end
