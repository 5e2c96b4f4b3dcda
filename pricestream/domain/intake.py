"""One consumed message in, everything it causes out: decode, validate, apply, or dead-letter.

Both shells call ``handle``: the Faust agent with messages from Kafka, the offline simulator with
messages it builds itself. Where the state lives is the caller's business (a Faust table, a dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pricestream.domain.engine import Engine, SkuState
from schemas.codec import Delisting, Rejection, dead_letter, decode
from schemas.records import DeadLetter, PriceChange, RestockOrder

DELETE = object()     # marker: the SKU's state is to be removed (delisted)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass(slots=True)
class Handled:
    outputs: list[PriceChange | RestockOrder | DeadLetter] = field(default_factory=list)
    new_state: SkuState | object | None = None     # None: unchanged; DELETE: remove; else store it
    rejected: DeadLetter | None = None
    duplicate: bool = False


def handle(engine: Engine, message: Message, load_state: Callable[[bytes], SkuState | None],
           max_payload_bytes: int) -> Handled:
    record = decode(message.topic, message.key, message.value, max_payload_bytes)
    if isinstance(record, Rejection):
        return _rejected(message, record)
    state = load_state(message.key)
    outcome = engine.apply(state, record)
    if outcome.rejection is not None:
        return _rejected(message, outcome.rejection)
    if isinstance(record, Delisting):
        return Handled(new_state=DELETE)
    if outcome.duplicate:
        return Handled(duplicate=True)
    return Handled(outputs=list(outcome.outputs), new_state=outcome.state)


def _rejected(message: Message, rejection: Rejection) -> Handled:
    letter = dead_letter(message.topic, message.partition, message.offset, message.key, message.value,
                         rejection, message.timestamp_ms)
    return Handled(outputs=[letter], rejected=letter)
