"""A starting worker loses nothing it fetched while recovering: the seek after recovery also moves the
input partitions the group never committed, and their first commit does not pass over a missing head.

aiokafka's ``seek_to_committed`` leaves a partition without a committed offset (or with 0) where its
fetcher was: past records fetched while the worker's streams were held for recovery, which then never
reached the agent. ``tests/e2e/test_restart.py`` starts a worker onto such a backlog on the real broker;
this pins down which partitions the patched ``perform_seek`` sends back to the start.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka.structs import TopicPartition

from streams.faust_fixes import _new_offset_not_past_an_unread_head as new_offset
from streams.faust_fixes import _perform_seek_from_the_start_where_nothing_is_committed as perform_seek

CHANGELOG = "pricestream-sku-state-changelog"


class FakeConsumer:
    def __init__(self, committed: dict, reset: str = "earliest", flow_active: bool = False):
        self.committed = committed
        self.flow_active = flow_active
        self.steps: list[str] = []
        self.app = SimpleNamespace(conf=SimpleNamespace(consumer_auto_offset_reset=reset),
                                   flow_control=SimpleNamespace(clear=lambda: self.steps.append("clear buffers")))
        self._read_offset: dict = {}
        self._committed_offset: dict = {}
        self.sent_to_the_start: list = []
        starts = {tp: 0 for tp in committed}

        async def beginning_offsets(tps):
            return {tp: starts[tp] for tp in tps}

        def seek(tp, offset):
            assert offset == starts[tp]
            self.sent_to_the_start.append(tp)
            self.steps.append("seek")

        aiokafka_consumer = SimpleNamespace(beginning_offsets=beginning_offsets, seek=seek)

        async def call_thread(fun, *args):      # Faust runs it on the consumer's own thread
            return await fun(*args)

        self._thread = SimpleNamespace(call_thread=call_thread, _ensure_consumer=lambda: aiokafka_consumer)

    async def seek_to_committed(self):
        self.steps.append("seek to committed")
        return dict(self.committed)

    def stop_flow(self):
        self.flow_active = False
        self.steps.append("stop flow")

    async def wait_for_stopped_flow(self):
        assert not self.flow_active
        self.steps.append("fetcher idle")

    def _is_changelog_tp(self, tp) -> bool:
        return tp.topic == CHANGELOG


def seek(consumer: FakeConsumer) -> FakeConsumer:
    asyncio.run(perform_seek(consumer))
    return consumer


def test_input_partitions_never_committed_go_back_to_the_start_and_no_others():
    never, zero, committed = TopicPartition("clicks", 0), TopicPartition("ticks", 3), TopicPartition("orders", 1)
    changelog = TopicPartition(CHANGELOG, 0)
    consumer = seek(FakeConsumer({never: None, zero: 0, committed: 120, changelog: None}))
    # the changelog is recovery's to position (a standby reads it on); committed partitions were moved
    assert sorted(consumer.sent_to_the_start) == sorted([never, zero])
    # what Faust records either way: the read offset to skip from, the committed offsets it knows
    assert consumer._read_offset[committed] == 120 and consumer._read_offset[never] is None
    assert consumer._read_offset[zero] == 0
    assert consumer._committed_offset == {("orders", 1): 120, ("ticks", 3): None}


def test_nothing_moves_when_every_input_partition_has_a_commit():
    consumer = seek(FakeConsumer({TopicPartition("clicks", 0): 7, TopicPartition(CHANGELOG, 2): None}))
    assert consumer.sent_to_the_start == []


def test_a_group_that_starts_new_partitions_at_their_end_is_left_as_faust_leaves_it():
    consumer = seek(FakeConsumer({TopicPartition("clicks", 0): None}, reset="latest"))
    assert consumer.sent_to_the_start == []


def test_a_running_flow_is_stopped_and_the_buffers_emptied_before_anything_moves():
    """Records fetched before the seek must not reach the streams after it (they would move the read
    offsets past what the seek brings back); the caller resumes the flow."""
    consumer = seek(FakeConsumer({TopicPartition("clicks", 0): None, TopicPartition("orders", 0): 4},
                                 flow_active=True))
    assert consumer.steps == ["stop flow", "fetcher idle", "clear buffers", "seek to committed", "seek"]
    assert not consumer.flow_active


def test_a_stopped_flow_is_left_as_it_is():
    consumer = seek(FakeConsumer({TopicPartition("clicks", 0): 3}))
    assert consumer.steps == ["seek to committed"]



class AckBook(SimpleNamespace):
    """The part of Faust's consumer that ``_new_offset`` reads: acknowledged offsets, gaps, commits."""

    def __init__(self, tp, acked: list[int], first_offset: int | None):
        from collections import defaultdict

        from intervaltree import IntervalTree
        super().__init__(_acked=defaultdict(list, {tp: list(acked)}), _acked_index=defaultdict(set, {tp: set(acked)}),
                         _gap=defaultdict(IntervalTree), _committed_offset=defaultdict(lambda: None),
                         _pricestream_first_offsets={} if first_offset is None else {tp: first_offset})


def test_a_never_committed_partition_is_not_committed_past_records_missing_at_its_head():
    tp = TopicPartition("clicks", 0)
    # offsets 0-4 were handed out while recovering and dropped: 5-7 alone must not be committed
    assert new_offset(AckBook(tp, [5, 6, 7], first_offset=0), tp) is None
    # from the first offset on, it commits as Faust does: the end of the first consecutive run
    assert new_offset(AckBook(tp, [0, 1, 2, 4], first_offset=0), tp) == 3
    # a transaction marker may sit at the partition's first offset
    assert new_offset(AckBook(tp, [1, 2], first_offset=0), tp) == 3
    # a log whose start moved on (retention): its first offset is where the head is
    assert new_offset(AckBook(tp, [40, 41], first_offset=40), tp) == 42


def test_a_partition_with_a_commit_or_not_moved_by_the_seek_is_judged_as_faust_judges_it():
    tp = TopicPartition("clicks", 0)
    committed = AckBook(tp, [5, 6], first_offset=0)
    committed._committed_offset[tp] = 5
    assert new_offset(committed, tp) == 7
    # a changelog, or an input partition under another reset policy: the seek recorded no first offset
    assert new_offset(AckBook(TopicPartition(CHANGELOG, 0), [5, 6], first_offset=None),
                      TopicPartition(CHANGELOG, 0)) == 7


def test_the_seek_records_the_first_offsets_the_head_check_uses():
    never = TopicPartition("clicks", 0)
    consumer = seek(FakeConsumer({never: None, TopicPartition("orders", 1): 9}))
    assert consumer._pricestream_first_offsets == {("clicks", 0): 0}
