"""One consumed message in, everything it causes out: decode, validate, apply or decide, or dead-letter.

Both shells call ``handle``: the Faust agent with messages from Kafka and its table as the store, the
offline simulator with messages it builds itself and a dict. Per partition the store also keeps the
list of SKUs on it (``PartitionIndex``), so a tick can decide for every SKU, including those that had
no event in the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pricestream.domain.calendar import LiftPool, view_for
from pricestream.domain.demand_model import DAY_MS
from pricestream.domain.engine import Engine, SkuState
from schemas.codec import CalendarRemoval, Delisting, PriorWithdrawal, Rejection, dead_letter, decode, to_dict
from schemas.records import CalendarEntry, CatalogEntry, DeadLetter, ModelPrior, PriceChange, RestockOrder, Tick


MAX_HELD_LETTERS = 100      # per unlisted SKU and period; more are dead-lettered at once
# An event stamped further than this from its partition's last tick would count in a period it does not
# belong to (and a far-future catalogue entry or competitor price would win "latest" for ever). Wide
# enough for late mobile clients and a worker that was down for days.
EVENT_TIME_WINDOW_MS = 7 * DAY_MS
# catalogue entries, priors and calendar entries describe things from some time on: an old one is still
# the latest (a compacted topic read from its start)
_MAY_BE_OLD = (CatalogEntry, ModelPrior, CalendarEntry)


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
    # the partition's copy of the calendar (every partition gets every entry), by calendar_id, until a
    # day after each entry ends; and per effect, the pool's learned log-lift (a new SKU's prior)
    calendar: dict[str, CalendarEntry] = field(default_factory=dict)
    pooled_lifts: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"kind": self.KIND, "partition": self.partition, "skus": list(self.skus),
             "last_tick_ms": self.last_tick_ms, "pooled_elasticity": self.pooled_elasticity,
             "last_tick_offset": self.last_tick_offset}
        if self.calendar or self.pooled_lifts:
            d["calendar"] = {k: to_dict(e) for k, e in sorted(self.calendar.items())}
            d["pooled_lifts"] = dict(self.pooled_lifts)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PartitionIndex":
        return cls(partition=d["partition"], skus=list(d["skus"]), last_tick_ms=d["last_tick_ms"],
                   pooled_elasticity=d["pooled_elasticity"], last_tick_offset=d["last_tick_offset"],
                   calendar={k: CalendarEntry(**e) for k, e in d.get("calendar", {}).items()},
                   pooled_lifts=dict(d.get("pooled_lifts", {})))

    def learn_calendar(self, record: CalendarEntry | CalendarRemoval) -> None:
        """An entry (the latest revision by event time wins) or its removal."""
        if isinstance(record, CalendarRemoval):
            self.calendar.pop(record.calendar_id, None)
            return
        known = self.calendar.get(record.calendar_id)
        if known is None or (record.event_time_ms, record.event_id) >= (known.event_time_ms, known.event_id):
            self.calendar[record.calendar_id] = record

    def forget_past_calendar(self, now_ms: int) -> None:
        """Entries that ended more than a day ago: no period ahead or just closed needs them."""
        for calendar_id in [k for k, e in self.calendar.items() if e.end_ms <= now_ms - DAY_MS]:
            del self.calendar[calendar_id]


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
    if isinstance(record, (CalendarEntry, CalendarRemoval)):
        return _learn_calendar(message, record, store)

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
    pool, lifts = _Pool(), LiftPool()
    entries = list(index.calendar.values())
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
        calendar = view_for(sku, entries, index.pooled_lifts, tick.event_time_ms) if entries else None
        handled.outputs += engine.close(state, tick.event_time_ms, period_ms, index.pooled_elasticity, calendar)
        store.put(key, state)
        pool.add(state)
        if state.demand is not None and state.demand.calendar_effects.mean:
            lifts.add(state.demand.calendar_effects)
        handled.skus_closed += 1
    index.last_tick_ms = tick.event_time_ms
    index.pooled_elasticity = pool.mean(default=index.pooled_elasticity)
    index.pooled_lifts = lifts.means(index.pooled_lifts)
    index.forget_past_calendar(tick.event_time_ms)
    store.put(partition_key(message.partition), index)
    return handled


def _learn_calendar(message: Message, record: CalendarEntry | CalendarRemoval, store: StateStore) -> Handled:
    """A calendar entry goes into its partition's copy of the calendar, which the next ticks read."""
    index = store.get(partition_key(message.partition)) or PartitionIndex(message.partition)
    if isinstance(record, CalendarEntry):
        problem = event_time_problem(record, index)
        if problem:
            return _rejected(message, Rejection("event-time-out-of-range", problem))
    index.learn_calendar(record)
    store.put(partition_key(message.partition), index)
    return Handled()


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
