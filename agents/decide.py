"""The one agent: every input topic, one SKU's events in order, decisions out.

One agent consumes all input topics so a SKU's state is never read and written by two coroutines
across an ``await``. The body is plumbing only: the decisions are in ``pricestream.domain``.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from pricestream.domain.intake import Message, handle
from streams.faust_fixes import gate as transaction_gate
from streams.tables import TableStore
from schemas.codec import encode

log = logging.getLogger("pricestream.worker")

# Every output carries the process that wrote it: with several workers in a group, which one decided.
WORKER_HEADER = "pricestream-worker"


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def register_decide_agent(worker) -> None:
    gate = transaction_gate(worker.app)
    store = TableStore(worker.tables.sku_state, gate, live_max=worker.settings.live_states)
    outputs = worker.topics.outputs
    counters = worker.counters
    max_bytes = worker.settings.max_payload_bytes
    prefix = worker.settings.topic_prefix
    headers = [(WORKER_HEADER, worker_identity().encode())]

    @worker.app.agent(worker.topics.inputs, name="decide")
    async def decide(stream):
        async for event in stream.events():
            m = event.message
            message = Message(m.topic.removeprefix(prefix), m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000))
            counters.consumed[message.topic] += 1
            # all of a message's effects (state, outputs) and its offset go in one transaction, or none
            async with gate.message(m.tp, m.offset):
                handled = handle(worker.engine, message, store, max_bytes)
                for output in handled.outputs:
                    key = output.sku.encode() if output.TOPIC != "dead-letter" else \
                        m.key if output is handled.rejected else (output.key or "").encode() or None
                    # force: now, into the open transaction, not attached to be sent at the next commit
                    await outputs[output.TOPIC].send(key=key, value=encode(output), headers=headers, force=True)
                    counters.count_output(output, time.time())
            for letter in ([handled.rejected] if handled.rejected else []) + handled.rejections:
                counters.count_dead_letter(letter)
                log.warning("dead letter from %s[%d]@%d: %s: %s", letter.source_topic, letter.partition,
                            letter.offset, letter.error_code, letter.error)
            if handled.duplicate:
                counters.duplicates_ignored += 1
            if handled.replayed:
                counters.replays_skipped += 1
            counters.skus_closed += handled.skus_closed
