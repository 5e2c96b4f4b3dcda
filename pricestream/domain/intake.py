"""One consumed message in, everything it causes out: decode, validate, apply or decide, or dead-letter.

Both shells call ``handle``: the Faust agent with messages from Kafka and its table as the store, the
offline simulator with messages it builds itself and a dict. Per partition the store also keeps the
list of SKUs on it (``PartitionIndex``), so a tick can decide for every SKU, including those that had
no event in the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pricestream.domain.demand_model import DAY_MS
from pricestream.domain.engine import Engine, SkuState
from schemas.codec import Delisting, PriorWithdrawal, Rejection, dead_letter, decode, to_dict
from schemas.records import CatalogEntry, DeadLetter, ModelPrior, PriceChange, RestockOrder, Tick


MAX_HELD_LETTERS = 100      # per unlisted SKU and period; more are dead-lettered at once
# An event stamped further than this from its partition's last tick would count in a period it does not
# belong to (and a far-future catalogue entry or competitor price would win "latest" for ever). Wide
# enough for late mobile clients and a worker that was down for days.
EVENT_TIME_WINDOW_MS = 7 * DAY_MS
# catalogue entries and priors describe the SKU from some time on: an old one is still the latest
_MAY_BE_OLD = (CatalogEntry, ModelPrior)


@dataclass(slots=True)
class PartitionIndex:
    """The SKUs whose events arrive on one partition, in the order they were listed."""
    KIND = "partition-index"
    partition: int
    skus: list[str] = field(default_factory=list)
    last_tick_ms: int | None = None
    # the pool's elasticity: precision-weighted mean over this partition's SKUs whose price has moved,
    # as of the last tick; the prior of SKUs seen for the first time
    pooled_elasticity: float | None = None
    last_tick_offset: int = -1          # offset of the last tick applied: a redelivered one is skipped

    def to_dict(self) -> dict:
        return {"kind": self.KIND, "partition": self.partition, "skus": list(self.skus),
                "last_tick_ms": self.last_tick_ms, "pooled_elasticity": self.pooled_elasticity,
                "last_tick_offset": self.last_tick_offset}

    @classmethod
    def from_dict(cls, d: dict) -> "PartitionIndex":
        return cls(partition=d["partition"], skus=list(d["skus"]), last_tick_ms=d["last_tick_ms"],
                   pooled_elasticity=d["pooled_elasticity"], last_tick_offset=d["last_tick_offset"])


def partition_key(partition: int) -> bytes:
    """Store key of a partition's index; '#' cannot start a SKU, so it never meets a SKU's key."""
    return b"#partition:%d" % partition


class StateStore(Protocol):
    def get(self, key: bytes) -> SkuState | PartitionIndex | None: ...
    def put(self, key: bytes, value: SkuState | PartitionIndex) -> None: ...
    def delete(self, key: bytes) -> None: ...


class DictStore(dict):
    """The offline shell's store."""

    def put(self, key: bytes, value) -> None:
        self[key] = value

    def delete(self, key: bytes) -> None:
        self.pop(key, None)


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
    rejected: DeadLetter | None = None                          # this message, if it was bad
    rejections: list[DeadLetter] = field(default_factory=list)  # held events found bad at a tick
    duplicate: bool = False
    replayed: bool = False          # a message this state had already applied, delivered again
    skus_closed: int = 0


def handle(engine: Engine, message: Message, store: StateStore, max_payload_bytes: int) -> Handled:
    record = decode(message.topic, message.key, message.value, max_payload_bytes)
    if isinstance(record, Rejection):
        return _rejected(message, record)
    if isinstance(record, Tick):
        return _close_partition(engine, message, record, store)

    state = store.get(message.key)
    if state is not None and message.offset <= state.applied_offsets.get(message.topic, -1):
        return Handled(replayed=True)       # already in this state: Faust delivered it again
    if not isinstance(record, (Delisting, PriorWithdrawal)):
        problem = event_time_problem(record, store.get(partition_key(message.partition)))
        if problem:
            return _rejected(message, Rejection("event-time-out-of-range", problem))
    if isinstance(record, PriorWithdrawal) and state is None:
        return Handled()                    # no prior to drop
    outcome = engine.apply(state, record)
    if isinstance(record, Delisting):
        if state is not None:
            store.delete(message.key)
            _update_index(store, message.partition, remove=record.sku)
        return Handled()
    if outcome.duplicate:
        return Handled(duplicate=True)
    outcome.state.applied_offsets[message.topic] = message.offset
    handled = Handled()
    if outcome.unlisted:
        # whether the catalogue entry comes before or after this event within the period must not
        # matter, so the verdict waits for the tick
        letter = dead_letter(message.topic, message.partition, message.offset, message.key, message.value,
                             Rejection("unknown-sku", f"no catalog entry for SKU {record.sku!r} by the end of "
                                                      "the period"), message.timestamp_ms)
        if len(outcome.state.held_letters) < MAX_HELD_LETTERS:
            outcome.state.held_letters.append(to_dict(letter))
        else:
            handled = Handled(outputs=[letter], rejected=letter)
    store.put(message.key, outcome.state)
    if state is None:
        _update_index(store, message.partition, add=record.sku)
    return handled


def _close_partition(engine: Engine, message: Message, tick: Tick, store: StateStore) -> Handled:
    if tick.partition != message.partition:
        return _rejected(message, Rejection(
            "wrong-partition", f"a tick for partition {tick.partition} was written to partition {message.partition}"))
    index = store.get(partition_key(message.partition)) or PartitionIndex(message.partition)
    if message.offset <= index.last_tick_offset:
        return Handled(replayed=True)
    if index.last_tick_ms is not None and tick.event_time_ms <= index.last_tick_ms:
        if tick.event_time_ms == index.last_tick_ms:
            return Handled(duplicate=True)      # the same period end again (a restarted live clock): no new period
        return _rejected(message, Rejection("stale-tick", f"a tick for {tick.event_time_ms} came after the tick for "
                                                          f"{index.last_tick_ms}: periods only move forward"))
    index.last_tick_offset = message.offset
    period_ms = None if index.last_tick_ms is None else tick.event_time_ms - index.last_tick_ms
    handled = Handled()
    pool = _Pool()
    for sku in list(index.skus):
        key = sku.encode()
        state = store.get(key)
        if state.catalog is None:           # never listed: its events are dead letters after all
            letters = [DeadLetter(**d) for d in state.held_letters]
            handled.outputs += letters
            handled.rejections += letters
            if state.model_prior is not None:   # but its prior waits for the catalogue entry
                store.put(key, SkuState(sku, model_prior=state.model_prior, applied_offsets=state.applied_offsets))
            else:
                store.delete(key)
                index.skus.remove(sku)
            continue
        handled.outputs += engine.close(state, tick.event_time_ms, period_ms, index.pooled_elasticity)
        store.put(key, state)
        pool.add(state)
        handled.skus_closed += 1
    index.last_tick_ms = tick.event_time_ms
    index.pooled_elasticity = pool.mean(default=index.pooled_elasticity)
    store.put(partition_key(message.partition), index)
    return handled


def event_time_problem(record, index: PartitionIndex | None) -> str | None:
    """Why the event's time is implausible next to its partition's last tick; None when it is not (or
    no tick has come yet, so there is nothing to compare with)."""
    if index is None or index.last_tick_ms is None:
        return None
    t, last, days = record.event_time_ms, index.last_tick_ms, EVENT_TIME_WINDOW_MS // DAY_MS
    if t > last + EVENT_TIME_WINDOW_MS:
        return f"event_time_ms {t} is more than {days} days after this partition's last tick ({last})"
    if t < last - EVENT_TIME_WINDOW_MS and not isinstance(record, _MAY_BE_OLD):
        return f"event_time_ms {t} is more than {days} days before this partition's last tick ({last})"
    return None


class _Pool:
    """Precision-weighted mean elasticity of the SKUs whose own price variation identifies it."""

    MIN_LOG_PRICE_STD = 0.02     # about 2 % of price movement

    def __init__(self):
        self.weight = 0.0
        self.total = 0.0

    def add(self, state: SkuState) -> None:
        est = state.demand.elasticity if state.demand is not None else None
        if est is None or est.price_std_log() < self.MIN_LOG_PRICE_STD:
            return
        w = 1.0 / max(est.elasticity_sd, 1e-3) ** 2
        self.weight += w
        self.total += w * est.elasticity

    def mean(self, default: float | None) -> float | None:
        return self.total / self.weight if self.weight else default


def _update_index(store: StateStore, partition: int, add: str | None = None, remove: str | None = None) -> None:
    key = partition_key(partition)
    index = store.get(key) or PartitionIndex(partition)
    if add is not None and add not in index.skus:
        index.skus.append(add)
    if remove is not None and remove in index.skus:
        index.skus.remove(remove)
    store.put(key, index)


def _rejected(message: Message, rejection: Rejection) -> Handled:
    letter = dead_letter(message.topic, message.partition, message.offset, message.key, message.value,
                         rejection, message.timestamp_ms)
    return Handled(outputs=[letter], rejected=letter)
