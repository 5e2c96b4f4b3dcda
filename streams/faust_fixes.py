"""Workarounds for Faust behaviour that would lose state; each says what and why.

Applied once, when the Faust app is built (``streams.app.create_worker``).
"""

from __future__ import annotations

from typing import List, Mapping

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


async def _highwaters_from_the_broker(self, partitions: List[TP]) -> Mapping[TP, int]:
    """Ask the broker for the end offsets of the changelog partitions.

    Under exactly_once Faust takes the "last stable offset" the consumer has *cached*, which is only
    known once a fetch of that partition has come back. At the start of recovery none has, so every
    changelog looked empty, recovery was skipped and a restarted worker began with no state (seen in
    tests/e2e/test_restart.py about one run in two). The consumer reads committed data
    (isolation_level=read_committed under exactly_once), so the broker's answer is the last stable
    offset too, just not a guess.
    """
    consumer = self._ensure_consumer()
    return await consumer.end_offsets(partitions)


def apply() -> None:
    faust_aiokafka.AIOKafkaConsumerThread._highwaters = _highwaters_from_the_broker
