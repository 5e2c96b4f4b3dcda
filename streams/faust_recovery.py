"""Faust 0.15's changelog recovery, patched: how a (re)starting or rebalanced worker gets its state back.

Installed by ``streams.faust_fixes.apply``. Two kinds of change, each saying what and why:

- **Speed.** ``Recovery._slurp_changelogs`` applies the changelog records a worker reads to its tables.
  It awaits ``asyncio.wait_for(queue.get(), 5.0)`` for every record: a task, a timer and a few turns of
  the event loop each, and then checks every partition's remaining offsets. py-spy on a restart of
  30,000 SKUs found that asyncio machinery taking over a quarter of the main thread's time, with
  recovery reading about 4,500 records a second. ``slurp_changelogs_in_batches`` takes whatever records
  are already queued (up to ``BATCH``) without waiting, and checks for the end of recovery once per
  batch; each record is handled exactly as Faust handles it.
- **Rebalances** (several workers in one group; found by ``pricestream scale-test``): a partition the
  worker keeps is not read again, a partition it kept a standby copy of is taken over from that copy
  instead of from the changelog's start, and a rebalance that lands between two steps of a recovery
  starts it over.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic

from faust.stores.memory import Store as MemoryStore
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.utils.tracing import finish_span
from mode.services import ServiceTask

logger = logging.getLogger("faust.tables.recovery")

BATCH = 500         # records applied between two turns of the event loop (about 10 ms of work)


async def slurp_changelogs_in_batches(self: Recovery) -> None:
    changelog_queue = self.tables.changelog_queue
    tp_to_table = self.tp_to_table

    active_tps = self.active_tps
    standby_tps = self.standby_tps
    active_offsets = self.active_offsets
    standby_offsets = self.standby_offsets
    active_events_received_at = self._active_events_received_at
    standby_events_received_at = self._standby_events_received_at

    buffers = self.buffers
    buffer_sizes = self.buffer_sizes
    processing_times = self._processing_times

    async def _maybe_signal_recovery_end(timeout: bool = False, timeout_count: int = 0) -> None:
        # as Faust: at least 2 consecutive empty cycles before looking for aborted transactions
        if timeout and self.app.in_transaction and timeout_count > 1:
            await detect_aborted_tx()
        if self.in_recovery and not self.need_recovery():
            self.flush_buffers()            # apply anything stuck in the buffers
            self._set_recovery_ended()
            if self._actives_span is not None:
                self._actives_span.set_tag("Actives-Ready", True)
            logger.debug("Setting recovery end")
            self.signal_recovery_end.set()

    async def detect_aborted_tx() -> None:
        highwaters = self.active_highwaters
        offsets = self.active_offsets
        for tp, highwater in highwaters.items():
            if highwater is not None and offsets[tp] is not None and offsets[tp] < highwater:
                position = await self.app.consumer.position(tp)
                if position is not None and position >= highwater:
                    logger.info(f"Aborted tx until highwater for {tp}")
                    offsets[tp] = highwater

    async def apply(event, now: float) -> None:
        """One record, as Faust's loop body handles it."""
        message = event.message
        tp = message.tp
        offset = message.offset
        bufsize = buffer_sizes.get(tp)
        is_active = False
        if tp in active_tps:
            is_active = True
            table = tp_to_table[tp]
            offsets = active_offsets
            if bufsize is None:
                bufsize = buffer_sizes[tp] = table.recovery_buffer_size
            active_events_received_at[tp] = now
        elif tp in standby_tps:
            table = tp_to_table[tp]
            offsets = standby_offsets
            if bufsize is None:
                bufsize = buffer_sizes[tp] = table.standby_buffer_size
                standby_events_received_at[tp] = now
        else:
            # Faust logs this and goes on with the previous record's table; a record of a partition
            # that is neither active nor standby here is not ours to apply
            logger.warning(f"recovery unknown topic {tp} offset {offset}")
            return
        seen_offset = offsets.get(tp, None)
        if seen_offset is None or offset > seen_offset:
            offsets[tp] = offset
            buf = buffers[table]
            buf.append(event)
            await table.on_changelog_event(event)
            if len(buf) >= bufsize:
                table.apply_changelog_batch(buf)
                buf.clear()
                self._last_flush_at = now
            now_after = monotonic()
            if is_active:
                last_processed_at = self._last_active_event_processed_at
                if last_processed_at is not None:
                    processing_times.append(now_after - last_processed_at)
                    if len(processing_times) > self.num_samples_required_for_estimate:
                        processing_times.popleft()
                self._last_active_event_processed_at = now_after

    timeout_count = 0
    while not self.should_stop:
        try:
            self.signal_recovery_end.clear()
            try:
                event = changelog_queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    event = await asyncio.wait_for(changelog_queue.get(), timeout=5.0)
                except asyncio.TimeoutError:
                    timeout_count += 1
                    if self.should_stop:
                        return
                    await _maybe_signal_recovery_end(timeout=True, timeout_count=timeout_count)
                    continue
            now = monotonic()
            timeout_count = 0
            for _ in range(BATCH):
                await apply(event, now)
                try:
                    event = changelog_queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
            else:
                await apply(event, now)     # the one taken when the batch was full
            await _maybe_signal_recovery_end()

            standby_ready = self._standbys_span is None and self.tables.standbys_ready
            if not standby_ready and not self.standby_remaining_total():
                logger.debug("Completed standby partition fetch")
                if self._standbys_span:
                    finish_span(self._standbys_span)
                    self._standbys_span = None
                self.tables.on_standbys_ready()
        except Exception as ex:
            logger.warning(f"Error in recovery {ex}")


_add_active = Recovery.add_active
_build_highwaters = Recovery._build_highwaters
_seek_offsets = Recovery._seek_offsets
_recovery_on_rebalance = Recovery.on_rebalance
_on_recovery_completed = Recovery.on_recovery_completed


async def on_rebalance_knowing_what_is_recovered(self, assigned, revoked, newly_assigned, generation_id=0) -> None:
    """Remember which active partitions were fully recovered before this rebalance (see below)."""
    if generation_id == self.app.consumer_generation_id:        # Faust ignores the others
        self._pricestream_previous = getattr(self, "_pricestream_recovered", set())
        self._pricestream_recovered = set()
    await _recovery_on_rebalance(self, assigned, revoked, newly_assigned, generation_id)


async def on_recovery_completed_remembering(self, generation_id=0) -> None:
    recovered = set(self.active_tps)
    await _on_recovery_completed(self, generation_id)
    if generation_id == self.app.consumer_generation_id:     # else a newer rebalance replaced active_tps
        self._pricestream_recovered = recovered


def add_active_from_its_standby_copy(self, table, tp) -> None:
    """A state partition the worker keeps is not read again; one it kept a standby copy of starts
    recovery where that copy is.

    Faust re-reads, at every rebalance, the changelog of each partition the worker keeps, from where
    it last read it (its own writes since are in memory, not read back) up to the last committed
    record. That replaces the state in memory with older values when the worker's latest commit is not
    yet readable (its commit markers come a moment after the commit, which Faust makes just before
    the rebalance). The memory holds every write, so a kept partition needs no reading.

    Faust recovers a newly active partition of an in-memory table from the changelog's start even when
    the worker has followed that changelog as a standby until now (its store keeps no offsets), so
    standby replicas saved nothing at a hand-over. With the standby's records kept in memory
    (``keep_standby_partitions``) only what the standby had not read yet is read.
    """
    standby_offset = self.standby_offsets.get(tp)
    _add_active(self, table, tp)
    if tp in getattr(self, "_pricestream_previous", ()):
        _attribute_set(self, "_pricestream_kept").add(tp)
        return
    if self.active_offsets.get(tp) is None and standby_offset is not None and standby_offset >= 0:
        self.active_offsets[tp] = standby_offset
        _attribute_dict(self, "_pricestream_takeovers")[tp] = standby_offset


def _attribute_set(obj, name: str) -> set:
    if getattr(obj, name, None) is None:
        setattr(obj, name, set())
    return getattr(obj, name)


def _attribute_dict(obj, name: str) -> dict:
    if getattr(obj, name, None) is None:
        setattr(obj, name, {})
    return getattr(obj, name)


async def build_highwaters_saying_what_is_read(self, consumer, tps, destination, title) -> None:
    """Faust's, then: a kept partition has nothing to read, and a log line per newly active partition,
    read from its standby copy or from the changelog's start (``pricestream scale-test`` counts them)."""
    await _build_highwaters(self, consumer, tps, destination, title)
    if title != "active":
        return
    takeovers = _attribute_dict(self, "_pricestream_takeovers")
    kept = _attribute_set(self, "_pricestream_kept")
    for tp in sorted(tps):
        last = destination.get(tp, -1)
        if tp in kept:
            kept.discard(tp)
            self.active_offsets[tp] = last        # nothing to read: see add_active_from_its_standby_copy
        elif tp in takeovers:
            logger.info("state partition %s[%d] taken over from its standby copy at offset %d of %d",
                        tp.topic, tp.partition, takeovers.pop(tp), last)
        elif self.active_offsets.get(tp) is None and last >= 0:
            logger.info("state partition %s[%d] read from the changelog's start: %d offsets",
                        tp.topic, tp.partition, last + 1)


async def seek_offsets_unless_rebalanced(self, consumer, tps, offsets, title) -> None:
    """Start recovery over when another rebalance came while this one was recovering.

    Faust's recovery checks for a newer rebalance only while it waits. A rebalance that lands between
    two steps replaces the partitions under it: it went on to seek partitions whose start offsets
    were never built (None), and the worker crashed ("Offset must be a positive integer"; seen when a
    worker joined: Faust's own re-subscription to the changelogs makes every join two rebalances).
    Raising RebalanceAgain is how Faust itself starts over.
    """
    if self.signal_recovery_start.is_set() or any(offsets.get(tp) is None for tp in tps):
        raise RebalanceAgain()
    await _seek_offsets(self, consumer, tps, offsets, title)


async def keep_standby_partitions(self, active_tps, standby_tps) -> None:
    """``MemoryStore.on_recovery_completed``, keeping standby copies.

    Faust's drops, after each recovery, the keys of partitions that are not active, standby ones
    included, while the standby goes on reading from where it was: its copy lost all it had read. Only
    keys of partitions that are neither active nor standby here are dropped now."""
    kept = {partition for _, partition in active_tps} | {partition for _, partition in standby_tps}
    for key in [k for k, partition in self._key_partition.items() if partition not in kept]:
        self.data.pop(key, None)
        self._key_partition.pop(key, None)


def install() -> None:
    # mode finds a service's background tasks by attribute name, so replacing the attribute is enough
    Recovery._slurp_changelogs = ServiceTask(slurp_changelogs_in_batches)
    Recovery.on_rebalance = on_rebalance_knowing_what_is_recovered
    Recovery.on_recovery_completed = on_recovery_completed_remembering
    Recovery.add_active = add_active_from_its_standby_copy
    Recovery._build_highwaters = build_highwaters_saying_what_is_read
    Recovery._seek_offsets = seek_offsets_unless_rebalanced
    MemoryStore.on_recovery_completed = keep_standby_partitions
