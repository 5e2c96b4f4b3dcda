"""Ticks: the ends of decision periods, one per partition (see ``schemas.records.Tick``)."""

from __future__ import annotations

from schemas.codec import deterministic_id
from schemas.records import SCHEMA_VERSION, Tick


def tick_time(now_s: float, interval_s: float) -> int:
    """The period end a live clock announces: now, floored to a multiple of the interval, in ms.

    >>> tick_time(125.7, 60)
    120000
    """
    step = int(interval_s * 1000)
    return int(now_s * 1000) // step * step


def ticks_for(period_end_ms: int, partitions: int) -> list[Tick]:
    """One tick per partition; the ids are fixed by partition and time, so a replay repeats them.

    >>> [t.partition for t in ticks_for(3_600_000, 3)]
    [0, 1, 2]
    """
    return [Tick(SCHEMA_VERSION, deterministic_id("tick", p, period_end_ms), p, period_end_ms)
            for p in range(partitions)]
