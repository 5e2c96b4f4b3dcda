"""The one agent: every input topic, one SKU's events in order, decisions out.

One agent consumes all input topics so a SKU's state is never read and written by two coroutines
across an ``await``. The body is plumbing only: the decisions are in ``pricestream.domain``.
"""

from __future__ import annotations

import logging

from pricestream.domain.intake import DELETE, Message, handle
from schemas.codec import encode

log = logging.getLogger("pricestream.worker")


def register_decide_agent(worker) -> None:
    table = worker.tables.sku_state
    outputs = worker.topics.outputs
    counters = worker.counters
    max_bytes = worker.settings.max_payload_bytes
    prefix = worker.settings.topic_prefix

    @worker.app.agent(worker.topics.inputs, name="decide")
    async def decide(stream):
        async for event in stream.events():
            m = event.message
            message = Message(m.topic.removeprefix(prefix), m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000))
            counters.consumed[message.topic] += 1
            handled = handle(worker.engine, message, table.get, max_bytes)
            if handled.rejected is not None:
                counters.dead_letters[handled.rejected.error_code] += 1
                counters.last_dead_letter = {"error_code": handled.rejected.error_code,
                                             "error": handled.rejected.error, "source_topic": message.topic}
                log.warning("dead letter from %s[%d]@%d: %s: %s", m.topic, m.partition, m.offset,
                            handled.rejected.error_code, handled.rejected.error)
            if handled.duplicate:
                counters.duplicates_ignored += 1
            if handled.new_state is DELETE:
                table.pop(m.key, None)
            elif handled.new_state is not None:
                table[m.key] = handled.new_state
            for output in handled.outputs:
                await outputs[output.TOPIC].send(key=m.key, value=encode(output))
                counters.emitted[output.TOPIC] += 1
