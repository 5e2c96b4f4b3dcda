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
import weakref
from typing import AsyncIterator, List, Mapping

from aiokafka.errors import KafkaError
from aiokafka.producer.sender import Sender as AIOKafkaSender
from faust.tables.base import Collection
from faust.transport.consumer import Consumer, TopicPartitionGroup, TransactionManager, ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.streams import _current_event, current_event
from faust.types import TP, FutureMessage
from faust.types.enums import ProcessingGuarantee

from streams import faust_recovery

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
    is a lock: the agent holds it while it handles one message, sends its outputs straight into the
    open transaction, and records the message as processed; a commit holds it while it publishes the
    table writes and commits the offsets of every processed message. A transaction thus holds all of a
    message's effects and its offset, or none of them.

    Table writes wait for the commit, and only a key's last value is published: a SKU's state written
    by a hundred events between two commits goes to its changelog once (as Kafka Streams' record cache
    does). What a restart recovers is the same, since only committed transactions are ever read back.
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.processed: dict[TP, int] = {}         # next offset after the last message fully handled
        self.unpublished: dict = {}                # (changelog, partition, key) -> its last write, not yet sent
        self.stores: list = []                     # the TableStores that write through the gate

    @contextlib.asynccontextmanager
    async def message(self, tp: TP, offset: int) -> AsyncIterator[None]:
        """Hold the gate while one message is handled; it counts as processed if the body finishes."""
        async with self.lock:
            yield
            self.processed[tp] = max(self.processed.get(tp, 0), offset + 1)

    def write(self, fut) -> None:
        """A table write to publish at the next commit, replacing an earlier one to the same key."""
        message = fut.message
        self.unpublished[(message.channel, message.partition, message.key)] = fut

    def touch(self, store, partition: int, key) -> None:
        """A key of ``store`` (``streams.tables.TableStore``) changed: ask it for its changelog write at
        the next commit. The cheap path for the hot loop: nothing is packed or sent until then."""
        self.unpublished[(store.changelog_topic, partition, key)] = store

    def forget_writes(self, partitions: set[int]) -> None:
        """Drop the unpublished table writes, and the stores' live states, of partitions this worker no
        longer has: the new owner reads their messages again from the committed offsets."""
        for entry in [e for e in self.unpublished if e[1] in partitions]:
            del self.unpublished[entry]
        for store in self.stores:
            store.forget(partitions)

    async def publish_changelog(self) -> None:
        """Hand the table writes made since the last commit to the producer: into the open transaction."""
        pending, self.unpublished = self.unpublished, {}
        # each write into the transaction of its own partition, whatever message the caller is handling
        outside_any_event = _current_event.set(None)
        try:
            for (_, partition, key), write in pending.items():
                fut = write if isinstance(write, FutureMessage) else write.changelog_message(partition, key)
                await fut.message.channel.publish_message(fut, wait=False)
        finally:
            _current_event.reset(outside_any_event)


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


def _send_changelog_within_the_gate(self, partition, key, value, key_serializer=None, value_serializer=None):
    """Under exactly_once a changelog write waits for the gate's next commit instead of the buffer."""
    if not self.app.in_transaction:
        return _send_changelog(self, partition, key, value, key_serializer, value_serializer)
    fut = changelog_message(self, partition, key, value, key_serializer, value_serializer)
    gate(self.app).write(fut)
    return fut


class _PartitionOnly:
    """Stands for "a message of ``partition``" where Faust's RocksDB store asks the current event which
    partition's database a write goes to."""

    def __init__(self, partition: int):
        self.message = self
        self.partition = partition


def put_in_store(table, partition: int, key, value) -> None:
    """Into ``table``'s store for ``partition`` without a changelog write, whatever message is current."""
    stand_in = _PartitionOnly(partition)
    token = _current_event.set(weakref.ref(stand_in))
    try:
        table.data[key] = value
    finally:
        _current_event.reset(token)


def changelog_message(table, partition, key, value, key_serializer=None, value_serializer=None):
    """A changelog write, as Faust's ``send_changelog`` makes it, not yet sent."""
    if value is None and value_serializer is None:
        value_serializer = "raw"        # a tombstone, as Faust's on_key_del writes it
    return table.changelog_topic.as_future_message(
        key=key, value=value, partition=partition,
        key_serializer=table.key_serializer if key_serializer is None else key_serializer,
        value_serializer=table.value_serializer if value_serializer is None else value_serializer,
        callback=table._on_changelog_sent, eager_partitioning=True)


async def _commit_within_the_gate(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
    """Commit between two messages, with the offsets of every message whose effects are in the transaction."""
    the_gate = gate(self.app)
    async with the_gate.lock:
        await the_gate.publish_changelog()          # the table writes of every message processed since the last
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
    the_gate = gate(self.app)
    for tp in revoked:
        the_gate.processed.pop(tp, None)
    # their producers stop below and their messages are read again by the new owner. A partition kept
    # here only as a standby copy is gone too: its live states would be stale when it came back.
    active = {tp.partition for tp in assigned if not self.app.assignor.is_standby(tp)}
    gone = {tp.partition for tp in revoked} - active
    the_gate.forget_writes(gone)
    await _on_rebalance(self, assigned, revoked, newly_assigned)
    await _stop_producers_of_partitions_gone(self, assigned)


async def _stop_producers_of_partitions_gone(self, assigned) -> None:
    """Stop the transactional producer of every partition this worker no longer decides for.

    Faust stops those of revoked partitions, but judges "revoked active" by the *new* assignment: a
    partition that moved to another worker and stayed here as a standby keeps its producer. When the
    partition comes back later (found by a scale-out harness: a worker stopped, its partitions
    spread), Faust reuses that producer, which the other owner has fenced meanwhile: the worker
    crashed on its next commit (ProducerFenced, then "Not in the middle of a transaction").
    """
    keep = self._tps_to_transactional_ids(assigned)
    for tid in [tid for tid in self.producer._transaction_producers if tid not in keep]:
        await self.producer.stop_transaction(tid)


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


_faust_new_offset = Consumer._new_offset


def _new_offset_not_past_an_unread_head(self, tp) -> int | None:
    """Faust's ``Consumer._new_offset`` (the offset a commit may move a partition to: the end of the
    first run of consecutive acknowledged offsets), not past records at the head of a partition the
    group never committed.

    Faust checks the head only against a committed offset; with none, it commits the first run it
    finds wherever it starts. A starting worker hands its agent records while it recovers and drops
    some of them (the stream's queue is cleared when the flow resumes); when later ones of a
    never-committed partition were handled and committed first, the dropped head was lost for good.
    Here such a partition's first commit waits until the run starts at the first offset the seek
    after recovery sent it to (one more is allowed, as Faust allows after a commit: a transaction
    marker)."""
    if self._committed_offset[tp] is None and self._acked[tp]:
        start = _first_offsets(self).get(tp)
        if start is not None:
            head = min(min(self._acked[tp]), min((gap.begin for gap in self._gap[tp]), default=float("inf")))
            if head > start + 1:
                return None
    return _faust_new_offset(self, tp)


def _first_offsets(consumer) -> dict:
    """The first offsets of the never-committed input partitions the last seek moved (``TP`` -> offset)."""
    if not hasattr(consumer, "_pricestream_first_offsets"):
        consumer._pricestream_first_offsets = {}
    return consumer._pricestream_first_offsets


async def _seek_to_the_start(consumer, partitions: list) -> dict:
    """Move an aiokafka consumer's ``partitions`` to their first offsets (dropping records fetched)."""
    starts = await consumer.beginning_offsets(partitions)
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    return starts


async def _perform_seek_from_the_start_where_nothing_is_committed(self) -> None:
    """Faust's ``Consumer.perform_seek`` (seek every partition back to its committed offset, after a
    recovery or when the flow was stopped), also for the input partitions the group never committed.

    aiokafka's ``seek_to_committed`` moves only partitions with a committed offset above 0; the others
    stay where the fetcher left them. A worker started onto a backlog fetches input records while its
    streams are held for recovery, and those records never reach the agent (the stream's queue is
    cleared when the flow resumes). The seek after recovery brings them back on partitions with a
    commit; on a partition that never had one (a topic first written while the worker was down) they
    were lost, and the partition's commit stopped short of its end: the "stall" once listed among the
    README's known limits. Those partitions now start where a new member of the group would start
    them (``consumer_auto_offset_reset``, earliest here); a record the agent did see is skipped by the
    SKU state's offsets, as for any redelivery."""
    if self.flow_active:
        # Faust seeks at the end of recovery with the flow running: records fetched before the seek kept
        # reaching the streams after it, moved the read offsets past the records the seek brings back,
        # and those were then dropped as already read. Stop the flow and empty the streams' buffers (all
        # fetched before the seek) first; the caller resumes the flow right after (Recovery does).
        self.stop_flow()
        await self.wait_for_stopped_flow()
        self.app.flow_control.clear()
    read_offset = self._read_offset
    _committed_offsets = await self.seek_to_committed()
    never_committed = [faust_aiokafka.ensure_aiokafka_TP(tp) for tp, offset in _committed_offsets.items()
                       if not offset and not self._is_changelog_tp(tp)]
    if never_committed and self.app.conf.consumer_auto_offset_reset == "earliest":
        # to their first offset now, not by a reset the fetcher makes later: records already fetched
        # from further on must not reach the agent first (their commit would pass over the rest)
        thread = self._thread
        starts = await thread.call_thread(_seek_to_the_start, thread._ensure_consumer(), never_committed)
        _first_offsets(self).update({ensure_TP(tp): offset for tp, offset in starts.items()})
    read_offset.update({tp: offset if offset is not None and offset >= 0 else None
                        for tp, offset in _committed_offsets.items()})
    self._committed_offset.update({ensure_TP(tp): offset if offset else None
                                   for tp, offset in _committed_offsets.items() if offset is not None})


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
    faust_recovery.install()
    AIOKafkaSender._find_coordinator = _find_coordinator_through_outages
    faust_aiokafka.Producer._settings_extra = _producer_settings_riding_out_outages
    faust_aiokafka.AIOKafkaConsumerThread._highwaters = _highwaters_from_the_broker
    Consumer.perform_seek = _perform_seek_from_the_start_where_nothing_is_committed
    Consumer._new_offset = _new_offset_not_past_an_unread_head
    Collection.send_changelog = _send_changelog_within_the_gate
    TransactionManager.commit = _commit_within_the_gate
    TransactionManager.on_rebalance = _on_rebalance_forgetting_revoked
    TransactionManager.send = _send_in_the_source_transaction
