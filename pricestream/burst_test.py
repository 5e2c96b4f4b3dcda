"""``pricestream burst-test``: back-pressure on the real broker.

Events go to a worker of its own at a normal rate, then at ``burst_factor`` times that rate for
``burst_s`` seconds, then at the normal rate again until the worker has caught up. Meanwhile a sampler
reads, every ``sample_s``, the worker's resident memory (``/proc/<pid>/status``) and its lag: what was
written (the producer's acknowledged offsets) minus what the worker's group committed. At the end the
run is closed with a lockstep tick, and it checks that nothing was lost: the worker's
``pricestream_events_consumed_total`` equals what was written, topic by topic, and its committed outputs
are, event for event, those of the same messages replayed through the domain code offline.

Ticks come in lockstep at the start, before the burst and at the end only (a lockstep tick waits for
the worker, which would throttle the burst); events between two ticks count in one period, whatever
the order the worker reads them in, so the offline replay gives the same decisions.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
import threading
import time
from typing import Callable

from pricestream.crash_test import compare, log_to_stderr
from pricestream.kafka_clients import read_committed
from pricestream.lockstep import Lockstep, LockstepProducer
from pricestream.settings import Settings
from pricestream.simulator.kafka_shell import end_session, session_settings, worker_log_path
from pricestream.worker_process import WorkerProcess, start_worker
from pricestream.workload import Events
from schemas import examples
from schemas.codec import encode
from schemas.topics import OUTPUT_TOPICS

PERIOD_MS = 3_600_000
START_MS = 1_767_225_600_000        # 2026-01-01T00:00Z: any fixed time, so that a run is reproducible
FLUSH_EVERY_S = 0.25                # the producer's acknowledged offsets (the lag's reference) this often


@dataclasses.dataclass(frozen=True)
class BurstPlan:
    skus: int = 20
    rate: float = 20.0                  # events per second, the normal rate
    burst_factor: float = 10.0
    before_s: float = 20.0
    burst_s: float = 60.0
    after_s: float = 20.0               # at least this long at the normal rate after the burst
    recovery_timeout_s: float = 600.0   # and at most this long waiting for the lag to come back
    sample_s: float = 0.5
    seed: int = 1


class Sampler:
    """Samples the worker's RSS and lag on a thread of its own."""

    def __init__(self, settings: Settings, worker: WorkerProcess, producer: LockstepProducer, every_s: float):
        self.worker, self.producer, self.every_s = worker, producer, every_s
        self.lockstep = Lockstep(settings)          # its own admin client
        self.phase = "before"
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True, name="burst-test-sampler")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s) and self.worker.alive():
            self.samples.append({"t": round(time.monotonic() - self._started, 2), "phase": self.phase,
                                 "rss_mb": round(self.worker.rss_bytes() / 2**20, 1),
                                 "lag": lag(self.lockstep, self.producer)})

    def close(self) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self.lockstep.close()


def lag(lockstep: Lockstep, producer: LockstepProducer) -> int:
    """Messages written (and acknowledged) that the worker's group has not committed yet."""
    committed = lockstep.committed()
    return sum(max(0, end - committed.get(p, 0)) for p, end in producer.produced().items())


def event_time(events: Events, period: int) -> Callable[[], int]:
    """Times inside period ``period`` (after the tick at its start, up to the tick that closes it)."""
    return lambda: START_MS + period * PERIOD_MS + 1 + events.n % (PERIOD_MS - 1)


def _produce(producer: LockstepProducer, events: Events, rate: float, until: Callable[[float], bool],
             t_ms: Callable[[], int]) -> tuple[int, float]:
    """Write events at ``rate`` per second until ``until(elapsed)``; returns (events written, seconds)."""
    started = last_flush = time.monotonic()
    written = 0
    while not until(time.monotonic() - started):
        now = time.monotonic()
        for _ in range(int(rate * (now - started)) - written):
            producer.send_record(events.next(t_ms()))
            written += 1
        if now - last_flush >= FLUSH_EVERY_S:
            producer.flush()
            last_flush = now
        time.sleep(0.005)
    producer.flush()
    return written, time.monotonic() - started


def offline_outputs(settings: Settings, sent) -> dict[str, list[bytes]]:
    """The messages as written, through the worker's domain code in process: what it must have emitted."""
    from pricestream.domain.engine import Engine
    from pricestream.domain.intake import DictStore, Message, handle
    from streams.app import engine_config

    engine, store = Engine(engine_config(settings)), DictStore()
    out: dict[str, list[bytes]] = {t: [] for t in OUTPUT_TOPICS}
    for m in sent:
        handled = handle(engine, Message(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp_ms), store,
                         settings.max_payload_bytes)
        for record in handled.outputs:
            out[record.TOPIC].append(encode(record))
    return out


def _thirds(values: list[float]) -> tuple[float | None, float | None]:
    """Means of the middle and the last third."""
    n = len(values) // 3
    if n == 0:
        return None, None
    return statistics.fmean(values[n:2 * n]), statistics.fmean(values[2 * n:])


def run_burst_test(settings: Settings, plan: BurstPlan = BurstPlan(), local_broker: bool = True,
                   progress: Callable[[str], None] = print) -> dict:
    started = time.monotonic()
    # the worker commits at its configured interval (not the lockstep sessions' 50 ms): its throughput
    # is what is measured, and only three ticks wait for it
    settings = session_settings(settings, local_broker, progress).replace(commit_interval_s=settings.commit_interval_s)
    worker = start_worker(settings, worker_log_path(settings))
    progress(f"worker started (policy {settings.pricing_policy}, topics {settings.topic_prefix}*, log {worker.log_path})")
    producer = LockstepProducer(settings, record_sent=True)
    skus = [f"BURST-{i:03d}" for i in range(plan.skus)]
    events = Events(skus, plan.seed)
    sampler = None
    try:
        for sku in skus:
            producer.send_record(examples.catalog_entry(sku, event_time_ms=START_MS))
            producer.send_record(examples.inventory(sku, START_MS, kind="count", quantity=10_000))
        producer.tick(START_MS)
        sampler = Sampler(settings, worker, producer, plan.sample_s)
        before = _produce(producer, events, plan.rate, lambda s: s >= plan.before_s, event_time(events, 0))
        producer.tick(START_MS + PERIOD_MS)
        progress(f"normal rate: {before[0]} events in {before[1]:.1f} s; burst at {plan.burst_factor:g}x")
        sampler.phase = "burst"
        burst = _produce(producer, events, plan.rate * plan.burst_factor, lambda s: s >= plan.burst_s, event_time(events, 1))
        burst_end = time.monotonic()
        progress(f"burst: {burst[0]} events in {burst[1]:.1f} s, lag {lag(producer.lockstep, producer)}; "
                 "back to the normal rate")
        sampler.phase = "after"
        caught_up_at: list[float] = []
        # caught up: behind by no more than the normal traffic of one commit interval and a second
        threshold = max(1, int(plan.rate * (settings.commit_interval_s + 1)))

        def after_done(elapsed: float) -> bool:
            if not caught_up_at and lag(producer.lockstep, producer) <= threshold:
                caught_up_at.append(time.monotonic())
            return (elapsed >= plan.after_s and bool(caught_up_at)) or elapsed >= plan.recovery_timeout_s

        after = _produce(producer, events, plan.rate, after_done, event_time(events, 1))
        producer.tick(START_MS + 2 * PERIOD_MS, timeout_s=plan.recovery_timeout_s)
        sampler.close()
        consumed = worker.consumed_counts()
        output = read_committed(settings)
    finally:
        if sampler is not None:
            sampler.close()
        worker_alive = worker.alive()
        producer.close()
        worker.stop()
        end_session(settings)

    written: dict[str, int] = {}
    for m in producer.sent:
        written[m.topic] = written.get(m.topic, 0) + 1
    per_topic = compare(offline_outputs(settings, producer.sent), output)
    samples = sampler.samples
    rss = {phase: [s["rss_mb"] for s in samples if s["phase"] == phase] for phase in ("before", "burst", "after")}
    middle, last = _thirds(rss["burst"])
    lags = [s["lag"] for s in samples]
    return {
        "skus": plan.skus, "rate": plan.rate, "burst_factor": plan.burst_factor, "burst_s": plan.burst_s,
        "processing_guarantee": settings.processing_guarantee, "policy": settings.pricing_policy,
        "events": {"before": before[0], "burst": burst[0], "after": after[0]},
        "achieved_rate": {"before": round(before[0] / before[1], 1), "burst": round(burst[0] / burst[1], 1),
                          "after": round(after[0] / after[1], 1)},
        "written": written,
        "consumed": {t: int(n) for t, n in consumed.items() if n or t in written},
        "lost": sum(max(0, n - int(consumed.get(t, 0))) for t, n in written.items()),
        "outputs": sum(len(v) for v in output.values()),
        "outputs_lost": sum(t["lost"] for t in per_topic.values()),
        "outputs_duplicated": sum(t["duplicated"] for t in per_topic.values()),
        "outputs_extra": sum(t["extra"] for t in per_topic.values()),
        "outputs_identical": all(t["identical"] for t in per_topic.values()),
        "dead_letters": len(output.get("dead-letter", [])),
        "lag": {"max": max(lags, default=0), "at_burst_end": next((s["lag"] for s in samples if s["phase"] == "after"),
                                                                  None),
                "recovered": bool(caught_up_at), "threshold": threshold,
                "recovery_s": round(caught_up_at[0] - burst_end, 1) if caught_up_at else None},
        "rss_mb": {"before": statistics.median(rss["before"]) if rss["before"] else None,
                   "peak": max((s["rss_mb"] for s in samples), default=None),
                   "burst_middle_third": round(middle, 1) if middle else None,
                   "burst_last_third": round(last, 1) if last else None,
                   "last_vs_middle_third": round(last / middle, 3) if middle else None,
                   "peak_vs_before": round(max(rss["burst"]) / statistics.median(rss["before"]), 3)
                   if rss["burst"] and rss["before"] else None},
        "worker_alive": worker_alive,
        "samples": len(samples),
        "timeline": samples[:: max(1, len(samples) // 60)],       # about 60 points, to plot
        "wall_s": round(time.monotonic() - started, 1),
    }


MAX_RSS_GROWTH = 1.10       # the burst's last third at most 10 % above its middle third: a plateau


def passed(report: dict) -> bool:
    ratio = report["rss_mb"]["last_vs_middle_third"]
    return (report["lost"] == 0 and report["written"] == report["consumed"] and report["outputs_identical"]
            and report["outputs_lost"] == report["outputs_duplicated"] == report["outputs_extra"] == 0
            and report["lag"]["recovered"] and report["worker_alive"]
            and ratio is not None and ratio <= MAX_RSS_GROWTH)


def run_burst_test_command(args, settings: Settings) -> int:
    plan = BurstPlan(skus=args.skus, rate=args.rate, burst_factor=args.burst_factor, before_s=args.before_s,
                     burst_s=args.burst_s, after_s=args.after_s, recovery_timeout_s=args.recovery_timeout_s,
                     seed=args.seed)
    log = log_to_stderr
    log(f"burst test: {plan.skus} SKUs, {plan.rate:g} events/s, {plan.burst_factor:g}x for {plan.burst_s:g} s")
    report = run_burst_test(settings, plan, local_broker=not args.external, progress=log)
    print(compact_samples(json.dumps(report, indent=2)))
    return 0 if passed(report) else 1


def compact_samples(text: str) -> str:
    """The timeline's samples one per line.

    >>> print(compact_samples(json.dumps({"timeline": [{"t": 1, "lag": 2}]}, indent=2)))
    {
      "timeline": [
        {"t": 1, "lag": 2}
      ]
    }
    """
    return re.sub(r'\{\s+("t": .*?)\s+\}', lambda m: "{" + re.sub(r",\s*\n\s*", ", ", m.group(1)) + "}", text,
                  flags=re.S)
