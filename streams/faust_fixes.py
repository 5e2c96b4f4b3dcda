"""Workarounds for Faust behaviour that would lose or duplicate state or events, or delay recovery;
each says what and why.

Applied once, when the Faust app is built (``streams.app.create_worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from typing import AsyncIterator, List, Mapping

from faust.stores.memory import Store as MemoryStore
from aiokafka.errors import KafkaError
from aiokafka.producer.sender import Sender as AIOKafkaSender
from faust.tables.base import Collection
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.transport.consumer import TopicPartitionGroup, TransactionManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.streams import current_event
from faust.types import TP
from faust.types.enums import ProcessingGuarantee

log = logging.getLogger("pricestream.worker")


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
    ends = await consumer.end_offsets(partitions)
    if not self.consumer.in_transaction:
        return ends
    # only for partitions this worker takes over: a standby's changelog is being written by its owner
    taking_over = [tp for tp in partitions if tp in self.app.tables.recovery.active_tps]
    if taking_over:
        ends = {**ends, **await _once_no_transaction_is_pending(self, consumer, taking_over, ends)}
    return await _after_the_last_committed_records(self, ends)


async def _once_no_transaction_is_pending(thread, consumer, partitions, stable: Mapping, timeout_s: float = 10.0):
    """The last stable offsets once every transaction on these changelog partitions has ended.

    A changelog partition is written by one worker at a time, so a transaction still open on it at
    recovery belongs to the previous owner: committed a moment ago, its commit markers not yet
    written (then the last stable offset is still before its records, and recovery would stop short of
    state whose input offsets *are* committed: that state would be lost), or about to be aborted by
    the new owner's producer fencing it. Waiting until the last stable offset reaches the end of the
    log (bounded by ``timeout_s``) closes that window.
    """
    conf = thread.app.conf
    peek = faust_aiokafka.aiokafka.AIOKafkaConsumer(
        bootstrap_servers=faust_aiokafka.server_list(thread.transport.url, thread.transport.default_port),
        isolation_level="read_uncommitted", enable_auto_commit=False, group_id=None,
        **faust_aiokafka.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context))
    await peek.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            logged = await peek.end_offsets(partitions)
            pending = [tp for tp in partitions if stable[tp] < logged[tp]]
            if not pending or time.monotonic() > deadline:
                if pending:
                    log.warning("recovery: transactions still open on %s after %.0f s; reading to the "
                                "last stable offsets", pending, timeout_s)
                return stable
            await asyncio.sleep(0.1)
            stable = await consumer.end_offsets(partitions)
    finally:
        await peek.stop()


TAIL_RECORDS = 500      # how far back from a changelog's end to look for its last committed record


async def _after_the_last_committed_records(thread, ends: Mapping[TP, int], timeout_s: float = 5.0) -> dict:
    """Under exactly_once: per changelog partition, the offset after the last record a consumer receives.

    Faust's recovery is done once it has applied the record at the end offset minus one. Under
    exactly_once that offset is a transaction marker, which no consumer receives, so Faust concludes
    only after two idle waits of 5 s: 10 s at every start of a worker with state. Reading the last
    records back from the end finds the last one it will receive. Where none is found in the last
    ``TAIL_RECORDS`` offsets the end offset stays (and Faust's wait with it), unless those reach the
    start of the partition: then it holds no committed record and there is nothing to recover.
    """
    wanted = {tp: end for tp, end in ends.items() if end}
    if not wanted:
        return dict(ends)
    conf = thread.app.conf
    tail = faust_aiokafka.aiokafka.AIOKafkaConsumer(
        bootstrap_servers=faust_aiokafka.server_list(thread.transport.url, thread.transport.default_port),
        isolation_level="read_committed", enable_auto_commit=False, group_id=None,
        **faust_aiokafka.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context))
    last: dict[TP, int] = {}
    await tail.start()
    try:
        tail.assign(list(wanted))
        for tp, end in wanted.items():
            tail.seek(tp, max(0, end - TAIL_RECORDS))
        pending, deadline = set(wanted), time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                return dict(ends)           # Faust's own way, slower
            for tp, records in (await tail.getmany(*pending, timeout_ms=200)).items():
                if records:
                    last[TP(tp.topic, tp.partition)] = records[-1].offset
            pending = {tp for tp in pending if await tail.position(tp) < wanted[tp]}
    finally:
        await tail.stop()
    found = dict(ends)
    for tp, end in wanted.items():
        if tp in last:
            found[tp] = last[tp] + 1
        elif end <= TAIL_RECORDS:
            found[tp] = 0
    return found


class TransactionGate:
    """Makes each input message's effects atomic under exactly_once: in one transaction with its offset.

    Faust 0.15 does not tie a message's effects to the transaction that commits its offset:

    - a table write goes to the changelog through the producer buffer, drained by a background task,
      so it can reach the transaction *after* the one that committed the message's offset: a crash
      then loses the state change while the message is never read again;
    - the commit timer takes the offsets acknowledged so far and commits while the agent is half-way
      through the next message, so a transaction can hold some of that message's writes (its table
      writes) and not others (its outputs, attached to the offset, go out with the next commit):
      after a crash the state says the message was applied, its outputs were never committed.

    ``tests/e2e/test_crash.py`` (``pricestream crash-test``) found both by killing the worker. The gate
    is a lock: the agent holds it while it handles one message, publishes its changelog writes and its
    outputs straight into the open transaction, and records the message as processed; a commit holds
    it while it commits, and commits the offsets of every processed message. A transaction thus holds
    all of a message's effects and its offset, or none of them.
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.processed: dict[TP, int] = {}         # next offset after the last message fully handled
        self.unpublished: list = []                # changelog messages not yet handed to the producer

    @contextlib.asynccontextmanager
    async def message(self, tp: TP, offset: int) -> AsyncIterator[None]:
        """Hold the gate while one message is handled; it counts as processed if the body finishes."""
        async with self.lock:
            yield
            await self.publish_changelog()
            self.processed[tp] = max(self.processed.get(tp, 0), offset + 1)

    async def publish_changelog(self) -> None:
        """Hand the table writes made so far to the producer: into the open transaction."""
        while self.unpublished:
            fut = self.unpublished.pop(0)
            await fut.message.channel.publish_message(fut, wait=False)


def gate(app) -> TransactionGate:
    """The app's gate (one per app)."""
    found = getattr(app, "_pricestream_gate", None)
    if found is None:
        found = app._pricestream_gate = TransactionGate()
    return found


_send_changelog = Collection.send_changelog
_commit = TransactionManager.commit
_on_rebalance = TransactionManager.on_rebalance
_send = TransactionManager.send
_add_active = Recovery.add_active
_build_highwaters = Recovery._build_highwaters
_seek_offsets = Recovery._seek_offsets
_seek_to_committed = faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed


def _send_changelog_within_the_gate(self, partition, key, value, key_serializer=None, value_serializer=None):
    """Under exactly_once a changelog write waits for the gate's publish_changelog instead of the buffer."""
    if not self.app.in_transaction:
        return _send_changelog(self, partition, key, value, key_serializer, value_serializer)
    fut = self.changelog_topic.as_future_message(
        key=key, value=value, partition=partition,
        key_serializer=self.key_serializer if key_serializer is None else key_serializer,
        value_serializer=self.value_serializer if value_serializer is None else value_serializer,
        callback=self._on_changelog_sent, eager_partitioning=True)
    gate(self.app).unpublished.append(fut)
    return fut


async def _commit_within_the_gate(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
    """Commit between two messages, with the offsets of every message whose effects are in the transaction."""
    the_gate = gate(self.app)
    async with the_gate.lock:
        await the_gate.publish_changelog()          # writes made outside an agent's message, if any
        assigned = self.consumer.assignment()
        merged = dict(offsets)
        for tp, next_offset in the_gate.processed.items():
            if tp in assigned and next_offset > merged.get(tp, -1):
                merged[tp] = next_offset
        return await _commit(self, merged, start_new_transaction)


async def _send_in_the_source_transaction(self, topic: str, key, value, partition, timestamp, headers, *,
                                          transactional_id=None):
    """Send what an agent writes to a topic it does not consume in the transaction of its input.

    Faust picks the transaction by the *destination* partition, which it looks up in the consumer's
    metadata; a topic the worker only writes to is not in it, so Faust sent such messages with its
    plain, non-transactional producer: every output was visible at once, committed or not, and was
    written again when its input was processed again after a crash (duplicates), or never written
    when the process died before the producer's next flush (lost). A message's effects belong to the
    transaction of the partition its input came from, whatever topic and partition they go to (for its
    changelog writes that is the same partition, so nothing changes for them).
    """
    event = current_event()
    if event is None:           # not from an agent's message (a timer's): as Faust does
        return await _send(self, topic, key, value, partition, timestamp, headers, transactional_id=transactional_id)
    source = event.message
    tid = self.transactional_id_format.format(
        group_id=self.app.conf.id, tpg=TopicPartitionGroup(source.topic, source.partition,
                                                           self.app.assignor.group_for_topic(source.topic)))
    return await self.producer.send(topic, key, value, partition, timestamp, headers, transactional_id=tid)


async def _on_rebalance_forgetting_revoked(self, assigned, revoked, newly_assigned) -> None:
    for tp in revoked:
        gate(self.app).processed.pop(tp, None)
    await _on_rebalance(self, assigned, revoked, newly_assigned)
    await _stop_producers_of_partitions_gone(self, assigned)


async def _stop_producers_of_partitions_gone(self, assigned) -> None:
    """Stop the transactional producer of every partition this worker no longer decides for.

    Faust stops those of revoked partitions, but judges "revoked active" by the *new* assignment: a
    partition that moved to another worker and stayed here as a standby keeps its producer. When the
    partition comes back later (found by ``pricestream scale-test``: a worker stopped, its partitions
    spread), Faust reuses that producer, which the other owner has fenced meanwhile: the worker
    crashed on its next commit (ProducerFenced, then "Not in the middle of a transaction").
    """
    keep = self._tps_to_transactional_ids(assigned)
    for tid in [tid for tid in self.producer._transaction_producers if tid not in keep]:
        await self.producer.stop_transaction(tid)


_recovery_on_rebalance = Recovery.on_rebalance
_on_recovery_completed = Recovery.on_recovery_completed


async def _on_rebalance_knowing_what_is_recovered(self, assigned, revoked, newly_assigned, generation_id=0) -> None:
    """Remember which active partitions were fully recovered before this rebalance (see below)."""
    if generation_id == self.app.consumer_generation_id:        # Faust ignores the others
        self._pricestream_previous = getattr(self, "_pricestream_recovered", set())
        self._pricestream_recovered = set()
    await _recovery_on_rebalance(self, assigned, revoked, newly_assigned, generation_id)


async def _on_recovery_completed_remembering(self, generation_id=0) -> None:
    recovered = set(self.active_tps)
    await _on_recovery_completed(self, generation_id)
    if generation_id == self.app.consumer_generation_id:     # else a newer rebalance replaced active_tps
        self._pricestream_recovered = recovered


def _add_active_from_its_standby_copy(self, table, tp) -> None:
    """A state partition the worker keeps is not read again; one it kept a standby copy of starts
    recovery where that copy is.

    Faust re-reads, at every rebalance, the changelog of each partition the worker keeps, from where
    it last read it (its own writes since are in memory, not read back) up to the last committed
    record. That replaces the state in memory with older values when the worker's latest commit is not
    yet readable (its commit markers come a moment after the commit, which Faust makes just before
    the rebalance): the SKU's state lost the messages of that commit, which are not read again (a
    click missing from a period, found by ``pricestream scale-test``). The memory holds every write,
    so a kept partition needs no reading.

    Faust 0.15 recovers a newly active partition of an in-memory table from the changelog's start
    even when the worker has followed that changelog as a standby until now (its store keeps no
    offsets), so standby replicas saved nothing at a hand-over. With the standby's records kept in
    memory (``_keep_standby_partitions``) only what the standby had not read yet is read.
    """
    standby_offset = self.standby_offsets.get(tp)
    _add_active(self, table, tp)
    if tp in getattr(self, "_pricestream_previous", ()):
        kept = getattr(self, "_pricestream_kept", None)
        if kept is None:
            kept = self._pricestream_kept = set()
        kept.add(tp)
        return
    if self.active_offsets.get(tp) is None and standby_offset is not None and standby_offset >= 0:
        self.active_offsets[tp] = standby_offset
        takeovers = getattr(self, "_pricestream_takeovers", None)
        if takeovers is None:
            takeovers = self._pricestream_takeovers = {}
        takeovers[tp] = standby_offset


async def _build_highwaters_saying_what_is_read(self, consumer, tps, destination, title) -> None:
    """Faust's, then a log line per newly active partition: from its standby copy, or from the start
    (``pricestream scale-test`` counts them)."""
    await _build_highwaters(self, consumer, tps, destination, title)
    if title != "active":
        return
    takeovers = getattr(self, "_pricestream_takeovers", {})
    kept = getattr(self, "_pricestream_kept", set())
    for tp in sorted(tps):
        last = destination.get(tp, -1)
        if tp in kept:
            kept.discard(tp)
            self.active_offsets[tp] = last        # nothing to read: see _add_active_from_its_standby_copy
        elif tp in takeovers:
            log.info("state partition %s[%d] taken over from its standby copy at offset %d of %d",
                     tp.topic, tp.partition, takeovers.pop(tp), last)
        elif self.active_offsets.get(tp) is None and last >= 0:
            log.info("state partition %s[%d] read from the changelog's start: %d offsets",
                     tp.topic, tp.partition, last + 1)


async def _seek_offsets_unless_rebalanced(self, consumer, tps, offsets, title) -> None:
    """Start recovery over when another rebalance came while this one was recovering.

    Faust's recovery checks for a newer rebalance only while it waits. A rebalance that lands between
    two steps replaces the partitions under it: it went on to seek partitions whose start offsets
    were never built (None), and the worker crashed ("Offset must be a positive integer"; seen in
    ``pricestream scale-test`` when a worker joined: Faust's own re-subscription to the changelogs
    makes every join two rebalances). Raising RebalanceAgain is how Faust itself starts over.
    """
    if self.signal_recovery_start.is_set() or any(offsets.get(tp) is None for tp in tps):
        raise RebalanceAgain()
    await _seek_offsets(self, consumer, tps, offsets, title)


async def _seek_to_committed_or_the_start(self) -> Mapping[TP, int]:
    """After a rebalance, an input partition the group never committed restarts from its beginning.

    Faust seeks every assigned partition to its committed offset after a rebalance; aiokafka skips
    partitions without one, which keep the consumer's position. Messages the worker had fetched from
    such a partition but not handled when the rebalance began (Faust drops them from the agent's
    buffer) were then never read again: the group never committed them, and under lockstep
    (``pricestream scale-test``) the group stalled on that partition's first message. With no
    committed offset, the start is where the group starts, ``consumer_auto_offset_reset``
    (earliest); changelog partitions keep the positions recovery gave them.
    """
    committed = await _seek_to_committed(self)
    if self.app.conf.consumer_auto_offset_reset != "earliest":
        return committed
    changelogs = self.app.tables.changelog_topics
    never = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
    if never:
        await self.call_thread(self._ensure_consumer().seek_to_beginning, *never)
    return committed


async def _keep_standby_partitions(self, active_tps, standby_tps) -> None:
    """The in-memory store drops, after each recovery, the keys of partitions that are not active,
    standby ones included, while the standby goes on reading from where it was: its copy lost all it
    had read. Only keys of partitions that are neither active nor standby here are dropped now."""
    kept = {partition for _, partition in active_tps} | {partition for _, partition in standby_tps}
    for key in [k for k, partition in self._key_partition.items() if partition not in kept]:
        self.data.pop(key, None)
        self._key_partition.pop(key, None)


_find_coordinator = AIOKafkaSender._find_coordinator


async def _find_coordinator_through_outages(self, coordinator_type, coordinator_key):
    """Keep looking for a transaction or group coordinator while the broker is unreachable.

    aiokafka retries a coordinator lookup that finds no coordinator or no ready node, but when the
    connection drops under the lookup (the broker going down or restarting) it raises a plain
    KafkaError from the producer's sender task. The producer is then dead, Faust crashes the consumer
    and the worker exits (``pricestream crash-test --broker-restarts`` found it in 2 of its first 5 runs:
    the broker went down while a transaction's offsets were being committed). A lost connection is
    retryable like the other errors: refresh the metadata, wait the backoff, look again.
    """
    while True:
        try:
            return await _find_coordinator(self, coordinator_type, coordinator_key)
        except KafkaError as exc:
            if not getattr(exc.__cause__, "retriable", False):
                raise
            await self.client.force_metadata_update()
            await asyncio.sleep(self._retry_backoff)


# How long a transaction may stay open (aiokafka's default is 60 s); the broker allows up to 15 min.
TRANSACTION_TIMEOUT_S = 300
_producer_settings_extra = faust_aiokafka.Producer._settings_extra


def _producer_settings_riding_out_outages(self) -> Mapping:
    """Transactions that outlast a broker outage of a few minutes.

    A transaction is open from the worker's first write after a commit until the next commit; when the
    broker goes away meanwhile the commit waits for it. Past the transaction timeout the restarted
    broker aborts the transaction and fences its producer, and Faust crashes the worker on the next
    commit (ProducerFenced; ``pricestream crash-test --broker-restarts`` found it when a broker took
    55 s to come back). A worker that dies instead loses nothing by a longer timeout: its successor's
    producer, with the same transactional id, aborts the open transaction when it starts.
    """
    extra = dict(_producer_settings_extra(self))
    if self.app.in_transaction:
        extra["transaction_timeout_ms"] = TRANSACTION_TIMEOUT_S * 1000
    return extra


def discard_local_tables(app) -> None:
    """Under exactly_once, start a RocksDB table store empty: it is rebuilt from the changelog.

    RocksDB keeps a table write as soon as it is made, committed or not, so after a crash it holds the
    writes of the transaction that was aborted. At start Faust 0.15 reads every changelog from the
    beginning (under exactly_once it never records a persisted offset) and overwrites them, except
    a key that only the aborted transaction wrote (a SKU seen for the first time): that state never
    was, and it would make the worker skip its message as already applied. Recovery reads
    everything anyway, so starting empty costs nothing. (For a worker with ``store`` rocksdb://.)
    """
    if app.conf.processing_guarantee == ProcessingGuarantee.EXACTLY_ONCE:
        shutil.rmtree(app.conf.tabledir, ignore_errors=True)


def apply() -> None:
    AIOKafkaSender._find_coordinator = _find_coordinator_through_outages
    faust_aiokafka.Producer._settings_extra = _producer_settings_riding_out_outages
    faust_aiokafka.AIOKafkaConsumerThread._highwaters = _highwaters_from_the_broker
    Collection.send_changelog = _send_changelog_within_the_gate
    TransactionManager.commit = _commit_within_the_gate
    TransactionManager.on_rebalance = _on_rebalance_forgetting_revoked
    TransactionManager.send = _send_in_the_source_transaction
    Recovery.add_active = _add_active_from_its_standby_copy
    Recovery.on_rebalance = _on_rebalance_knowing_what_is_recovered
    Recovery.on_recovery_completed = _on_recovery_completed_remembering
    Recovery._build_highwaters = _build_highwaters_saying_what_is_read
    Recovery._seek_offsets = _seek_offsets_unless_rebalanced
    faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_or_the_start
    MemoryStore.on_recovery_completed = _keep_standby_partitions
