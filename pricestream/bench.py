"""``pricestream bench``: how fast the engine runs on the real local broker, against a raw client.

Four measurements, each on topics and a worker of its own (``session_settings``), printed as JSON:

- **throughput**: a catalogue of ``skus`` SKUs is loaded first; then ``events`` events (clicks, orders
  and competitor prices in the shares of ``mix``) and one tick per partition are written as fast as the
  broker takes them (several times the worker's pace), and the time until the worker has committed
  every one of them is measured, with its CPU time and peak memory. The **raw limit** is then measured on the same topics: a
  minimal aiokafka loop that reads every message, parses its JSON and writes one message per 100
  inputs; ``ratio`` is the engine's pace over it. A minimal Faust agent doing the same (``faust_floor``,
  same processing guarantee) shows how much of the gap is Faust's own.
- **latency**: a running worker with ``latency_skus`` SKUs receives ``latency_rate`` events a second
  for ``latency_s`` seconds, and a tick per partition every ``latency_period_s`` (the bench is the
  clock, as the worker's live clock would be). Every price change and restock order is read back:
  ``produce`` latency is its record's timestamp (set when the worker sent it) minus its decision's
  event time (the tick); ``visible`` latency is when a read_committed consumer got it, which adds the
  wait for the transaction's commit (``PRICESTREAM_COMMIT_INTERVAL_S``).
- **scale**: ``recovery_skus`` SKUs, each listed, seen once and decided at a tick (full learned state),
  then the worker is restarted: the time until it is ready again (state recovered from the changelog)
  and its resident memory over that of a worker without state, per SKU.
- **growth**: the throughput measurement without the tick, for each catalogue size of ``growth_skus``:
  how the per-event cost grows with the catalogue.

Figures are printed, not judged: a shared machine's figures move from run to run, the ratio less so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pricestream.bench_faust_floor import PLAN_ENV
from pricestream.crash_test import log_to_stderr
from pricestream.domain.ticks import ticks_for
from pricestream.kafka_clients import aiokafka_connection, connection
from pricestream.lockstep import Lockstep
from pricestream.settings import Settings
from pricestream.simulator.kafka_shell import end_session, session_settings, worker_log_path
from pricestream.topics_admin import ensure_topics
from pricestream.worker_process import WorkerProcess, start_worker
from pricestream.workload import Events, Mix
from schemas import examples
from schemas.codec import encode
from schemas.records import Tick
from schemas.topics import INPUT_TOPICS, TopicSpec

START_MS = 1_767_225_600_000        # 2026-01-01T00:00Z: any fixed time, so that a run is reproducible
PERIOD_MS = 3_600_000
RAW_OUTPUT_EVERY = 100              # the raw loop writes one message per this many inputs
PHASES = ("throughput", "latency", "scale", "growth")
Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class BenchPlan:
    events: int = 1_000_000
    skus: int = 10_000
    mix: Mix = Mix(clicks=0.80, orders=0.15)        # the rest (5 %) competitor prices
    latency_rate: float = 5_000.0
    latency_s: float = 60.0
    latency_skus: int = 1_000
    latency_period_s: float = 10.0
    recovery_skus: int = 100_000
    growth_skus: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
    growth_events: int = 200_000
    phases: tuple[str, ...] = PHASES
    seed: int = 1
    timeout_s: float = 3_600.0          # for any one wait on the worker


class Preloader:
    """Writes messages as fast as the broker takes them, keyed by SKU like every producer of the shop."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.written = 0
        self.failures: list[BaseException] = []
        self._producer = KafkaProducer(**connection(settings), acks=1, linger_ms=20, batch_size=512 * 1024,
                                       max_request_size=8 * 2**20)

    def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        self._producer.send(self.settings.topic(topic), key=key, value=value, partition=partition) \
            .add_errback(self.failures.append)
        self.written += 1

    def record(self, record) -> None:
        self.send(record.TOPIC, record.sku.encode(), encode(record))

    def catalogue(self, skus: list[str], t_ms: int, stock: int | None = 40) -> None:
        """List ``skus`` with ``stock`` units each (None: stock unknown, no count sent); a fixed reorder
        rule (10, up to 60) until demand is learned."""
        for sku in skus:
            self.record(examples.catalog_entry(sku, event_time_ms=t_ms, reorder_point=10, order_up_to=60))
            if stock is not None:
                self.record(examples.inventory(sku, t_ms, kind="count", quantity=stock))

    def ticks(self, t_ms: int) -> None:
        for tick in ticks_for(t_ms, self.settings.partitions):
            self.send(Tick.TOPIC, str(tick.partition).encode(), encode(tick), partition=tick.partition)

    def flush(self) -> None:
        self._producer.flush()
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} writes failed, the first: {self.failures[0]!r}")

    def close(self) -> None:
        self._producer.close()


def input_ends(settings: Settings) -> dict[tuple[str, int], int]:
    """The end offset of every input topic partition (what a worker has to commit to have read it all)."""
    consumer = KafkaConsumer(**connection(settings))
    try:
        tps = [TopicPartition(settings.topic(t), p) for t in INPUT_TOPICS for p in range(settings.partitions)]
        return {(tp.topic, tp.partition): end for tp, end in consumer.end_offsets(tps).items() if end}
    finally:
        consumer.close()


def wait_committed(settings: Settings, worker: WorkerProcess, ends: dict, timeout_s: float, progress: Progress,
                   what: str) -> float:
    """Block until the worker's group has committed ``ends``; returns the time it took."""
    lockstep = Lockstep(settings, poll_s=0.2)
    started = last_report = time.monotonic()
    total = sum(ends.values())
    try:
        while True:
            committed = lockstep.committed()
            done = sum(min(committed.get(p, 0), end) for p, end in ends.items())
            if done >= total:
                return time.monotonic() - started
            if not worker.alive():
                raise RuntimeError(f"the worker died while {what}; see {worker.log_path}")
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{what}: {done} of {total} committed after {timeout_s:.0f} s")
            if time.monotonic() - last_report >= 15:
                progress(f"  {what}: {done:,} of {total:,} committed ({time.monotonic() - started:.0f} s)")
                last_report = time.monotonic()
            time.sleep(0.2)
    finally:
        lockstep.close()


def _mb(n_bytes: float) -> float:
    return round(n_bytes / 2**20, 1)


class Session:
    """One measurement's own topics, group and worker."""

    def __init__(self, settings: Settings, plan: BenchPlan, local_broker: bool, progress: Progress):
        # the worker commits at its configured interval, as in production, not the simulator's 50 ms
        self.settings = session_settings(settings, local_broker, progress).replace(
            commit_interval_s=settings.commit_interval_s)
        self.plan, self.progress = plan, progress
        self.worker: WorkerProcess | None = None

    def start(self) -> float:
        """Start (or restart) the worker; returns the seconds until it was ready (state recovered)."""
        started = time.monotonic()
        self.worker = start_worker(self.settings, worker_log_path(self.settings), timeout_s=self.plan.timeout_s)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout_s=120)

    def close(self) -> None:
        self.stop()
        end_session(self.settings)

    def load_catalogue(self, skus: list[str], stock: int | None = 40) -> dict:
        """List ``skus`` with a running worker and wait until it has read them all."""
        preloader = Preloader(self.settings)
        preloader.catalogue(skus, START_MS, stock)
        preloader.flush()
        preloader.close()
        seconds = wait_committed(self.settings, self.worker, input_ends(self.settings), self.plan.timeout_s,
                                 self.progress, "catalogue")
        return {"messages": preloader.written, "seconds": round(seconds, 1)}

    def drain(self, skus: list[str], n_events: int, tick: bool) -> dict:
        """Write ``n_events`` (and a tick) as fast as the broker takes them to the running worker, and
        time it until it has committed them all.

        The writer is several times faster than the worker, so the worker's pace is what is timed (from
        the first write), with no restart's recovery in it.
        """
        worker = self.worker
        preloader = Preloader(self.settings)
        events = Events(skus, self.plan.seed, self.plan.mix, prefix="bench")
        started = time.monotonic()
        cpu_before = worker.cpu_seconds()
        for i in range(n_events):
            preloader.record(events.next(START_MS + 1 + i * (PERIOD_MS - 2) // max(1, n_events)))
        if tick:
            preloader.ticks(START_MS + PERIOD_MS)
        preloader.flush()
        preloader.close()
        written_s = time.monotonic() - started
        self.progress(f"  {preloader.written:,} messages written in {written_s:.1f} s")
        wait_committed(self.settings, worker, input_ends(self.settings), self.plan.timeout_s, self.progress,
                       "draining")
        seconds = time.monotonic() - started
        cpu = worker.cpu_seconds() - cpu_before
        return {
            "skus": len(skus), "messages": preloader.written, "ticks": self.settings.partitions if tick else 0,
            "written_s": round(written_s, 2), "drain_s": round(seconds, 2),
            "events_per_s": round(preloader.written / seconds),
            "cpu_s_per_1000_events": round(1000 * cpu / preloader.written, 4),
            "cpu_utilisation": round(cpu / seconds, 2),
            "peak_rss_mb": _mb(worker.rss_bytes(peak=True)), "rss_mb": _mb(worker.rss_bytes()),
        }


def sku_names(n: int, prefix: str = "BENCH") -> list[str]:
    return [f"{prefix}-{i:07d}" for i in range(n)]


def measure_throughput(settings: Settings, plan: BenchPlan, local_broker: bool, progress: Progress) -> dict:
    session = Session(settings, plan, local_broker, progress)
    try:
        session.start()
        skus = sku_names(plan.skus)
        progress(f"throughput: {plan.skus:,} SKUs, {plan.events:,} events and a tick")
        catalogue = session.load_catalogue(skus)
        engine = session.drain(skus, plan.events, tick=True)
        engine["catalogue"] = catalogue
        progress(f"  engine: {engine['events_per_s']:,} events/s; now the raw aiokafka loop on the same topics")
        raw = asyncio.run(raw_limit(session.settings, timeout_s=plan.timeout_s))
        progress(f"  raw: {raw['events_per_s']:,} events/s; now a minimal Faust agent on the same topics")
        floor = faust_floor(session.settings, raw["messages"], timeout_s=plan.timeout_s)
        progress(f"  minimal Faust agent: {floor['events_per_s']:,} events/s")
    finally:
        session.close()
    return {"engine": engine, "raw": raw, "faust_floor": floor, "events_per_s": engine["events_per_s"],
            "raw_events_per_s": raw["events_per_s"], "ratio": round(engine["events_per_s"] / raw["events_per_s"], 3),
            "faust_floor_events_per_s": floor["events_per_s"],
            "ratio_to_faust_floor": round(engine["events_per_s"] / floor["events_per_s"], 3),
            "cpu_s_per_1000_events": engine["cpu_s_per_1000_events"], "peak_rss_mb": engine["peak_rss_mb"]}


def faust_floor(settings: Settings, messages: int, timeout_s: float) -> dict:
    """The same reading through a minimal Faust agent (``bench_faust_floor``), in a process of its own."""
    workdir = settings.worker_data_dir() / "faust-floor"
    workdir.mkdir(parents=True, exist_ok=True)
    result_path = workdir / "result.json"
    result_path.unlink(missing_ok=True)
    plan = {"topics": sorted({topic for topic, _ in input_ends(settings)}), "messages": messages,
            "output": settings.topic(RAW_OUTPUT_TOPIC.name), "datadir": str(workdir), "result": str(result_path)}
    run = subprocess.run([sys.executable, "-m", "pricestream.bench_faust_floor"], capture_output=True, text=True,
                         env={**os.environ, **settings.to_env(), PLAN_ENV: json.dumps(plan)}, timeout=timeout_s)
    if not result_path.exists():
        raise RuntimeError(f"the minimal Faust agent gave no figure (exit {run.returncode}):\n"
                           f"{(run.stdout + run.stderr)[-3000:]}")
    return json.loads(result_path.read_text())


RAW_OUTPUT_TOPIC = TopicSpec("bench-raw-output", bytes, "output", "The raw-client baseline's writes.")


async def raw_limit(settings: Settings, timeout_s: float) -> dict:
    """A minimal aiokafka loop over the input topics the engine just read: consume, parse, produce 1 in 100.

    It reads every message of those topics from the start (the catalogue too), without a consumer group.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as AioTopicPartition

    ensure_topics(settings, topics=[RAW_OUTPUT_TOPIC])
    output = settings.topic(RAW_OUTPUT_TOPIC.name)
    ends = input_ends(settings)
    total = sum(ends.values())
    consumer = AIOKafkaConsumer(**aiokafka_connection(settings), enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=2**20)
    producer = AIOKafkaProducer(**aiokafka_connection(settings), linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        consumer.assign([AioTopicPartition(topic, p) for topic, p in ends])
        await consumer.seek_to_beginning()
        read = 0
        started = time.monotonic()
        cpu_before = time.process_time()
        while read < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for messages in batches.values():
                for message in messages:
                    orjson.loads(message.value)
                    read += 1
                    if read % RAW_OUTPUT_EVERY == 0:
                        await producer.send(output, key=message.key, value=message.value)
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the raw loop read {read} of {total} in {timeout_s:.0f} s")
        await producer.flush()
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu_before
    finally:
        await consumer.stop()
        await producer.stop()
    return {"messages": read, "seconds": round(seconds, 2), "events_per_s": round(read / seconds),
            "cpu_s_per_1000_events": round(1000 * cpu / read, 4)}


async def count_records(settings: Settings, topic: str, timeout_s: float = 300.0) -> int:
    """The records a consumer reading ``topic`` from the start gets today (committed only): after the
    broker's compaction, not its offsets' span. What a recovering worker has to read."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as AioTopicPartition

    consumer = AIOKafkaConsumer(**aiokafka_connection(settings), enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    try:
        tps = [AioTopicPartition(topic, p) for p in range(settings.partitions)]      # as every topic of the engine
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        records, left = 0, {tp for tp in tps if ends[tp] > 0}
        while left:
            for messages in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                records += len(messages)
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
            if time.monotonic() > deadline:
                raise TimeoutError(f"counted {records} records of {topic} in {timeout_s:.0f} s, not done")
        return records
    finally:
        await consumer.stop()


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"count": len(ordered), "p50_ms": at(0.50), "p99_ms": at(0.99), "p999_ms": at(0.999),
            "max_ms": round(ordered[-1], 1), "mean_ms": round(statistics.fmean(ordered), 1)}


class OutputReader:
    """Reads the decisions back as they become visible (read_committed), on a thread of its own."""

    TOPICS = ("price-changes", "restock-orders")

    def __init__(self, settings: Settings):
        self.samples: list[tuple[str, int, int, float]] = []     # topic, record ts, decision time, seen at
        self._consumer = KafkaConsumer(*[settings.topic(t) for t in self.TOPICS], **connection(settings),
                                       isolation_level="read_committed", auto_offset_reset="earliest",
                                       enable_auto_commit=False)
        self._names = {settings.topic(t): t for t in self.TOPICS}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-output-reader")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=100).values():
                seen = time.time() * 1000
                for r in records:
                    self.samples.append((self._names[r.topic], r.timestamp, orjson.loads(r.value)["event_time_ms"], seen))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def measure_latency(settings: Settings, plan: BenchPlan, local_broker: bool, progress: Progress) -> dict:
    session = Session(settings, plan, local_broker, progress)
    reader = None
    try:
        session.start()
        skus = sku_names(plan.latency_skus, "LAT")
        progress(f"latency: {plan.latency_skus:,} SKUs, {plan.latency_rate:g} events/s for {plan.latency_s:g} s, "
                 f"a tick every {plan.latency_period_s:g} s")
        period_ms = int(plan.latency_period_s * 1000)
        first_tick = (int(time.time() * 1000) // period_ms) * period_ms
        preloader = Preloader(session.settings)
        # little stock, so that orders bring SKUs to their reorder point during the run: restocks too
        preloader.catalogue(skus, first_tick - 1, stock=12)
        preloader.flush()
        wait_committed(session.settings, session.worker, input_ends(session.settings), plan.timeout_s, progress,
                       "catalogue")
        reader = OutputReader(session.settings)
        events = Events(skus, plan.seed, plan.mix, prefix="latency")
        started = time.monotonic()
        next_tick, written, cpu_before = first_tick, 0, session.worker.cpu_seconds()
        while (elapsed := time.monotonic() - started) < plan.latency_s:
            now_ms = int(time.time() * 1000)
            if now_ms >= next_tick:
                preloader.ticks(next_tick)
                next_tick += period_ms
            for _ in range(int(plan.latency_rate * elapsed) - written):
                preloader.record(events.next(now_ms))
                written += 1
            time.sleep(0.002)
        # the last period closes now: a tick after the last one sent (ticks only move forward)
        preloader.ticks(max(int(time.time() * 1000), next_tick - period_ms + 1))
        preloader.flush()
        achieved = written / (time.monotonic() - started)
        wait_committed(session.settings, session.worker, input_ends(session.settings), plan.timeout_s, progress,
                       "latency run")
        cpu = session.worker.cpu_seconds() - cpu_before
        time.sleep(1.0)                         # the reader's last poll
        reader.close()
        preloader.close()
    finally:
        if reader is not None and reader._thread.is_alive():
            reader.close()
        session.close()
    by_topic = {}
    for topic in OutputReader.TOPICS:
        rows = [s for s in reader.samples if s[0] == topic]
        by_topic[topic] = {"produce": percentiles([ts - decided for _, ts, decided, _ in rows]),
                           "visible": percentiles([seen - decided for _, _, decided, seen in rows])}
    return {"skus": plan.latency_skus, "rate": plan.latency_rate, "achieved_rate": round(achieved),
            "seconds": plan.latency_s, "period_s": plan.latency_period_s,
            "commit_interval_s": session.settings.commit_interval_s,
            "worker_cpu_utilisation": round(cpu / plan.latency_s, 2), **by_topic}


def measure_scale(settings: Settings, plan: BenchPlan, local_broker: bool, progress: Progress) -> dict:
    session = Session(settings, plan, local_broker, progress)
    try:
        session.start()
        empty_rss = session.worker.rss_bytes()
        skus = sku_names(plan.recovery_skus, "SCALE")
        progress(f"scale: {plan.recovery_skus:,} SKUs listed, seen and decided, then a restart")
        catalogue = session.load_catalogue(skus)
        # one event per SKU on average and a tick: every SKU gets its demand model and a decision
        decided = session.drain(skus, plan.recovery_skus, tick=True)
        loaded_rss = session.worker.rss_bytes()
        session.stop()
        changelog_records = asyncio.run(count_records(session.settings, session.settings.state_changelog()))
        progress(f"  restarting onto a changelog of {changelog_records:,} records")
        recovery_s = session.start()
        recovered_rss = session.worker.rss_bytes()
        second_empty = Session(settings, plan, local_broker, progress)
        try:
            second_empty.start()
            empty_rss = min(empty_rss, second_empty.worker.rss_bytes())
        finally:
            second_empty.close()
    finally:
        session.close()
    return {"skus": plan.recovery_skus, "catalogue": catalogue, "decided": decided,
            "recovery_s": round(recovery_s, 2), "changelog_records": changelog_records,
            "changelog_records_per_sku": round(changelog_records / plan.recovery_skus, 2),
            "rss_mb": {"empty": _mb(empty_rss), "after_deciding": _mb(loaded_rss), "after_recovery": _mb(recovered_rss)},
            "bytes_per_sku": round((recovered_rss - empty_rss) / plan.recovery_skus),
            "bytes_per_sku_after_deciding": round((loaded_rss - empty_rss) / plan.recovery_skus)}


def measure_growth(settings: Settings, plan: BenchPlan, local_broker: bool, progress: Progress) -> list[dict]:
    rows = []
    for n_skus in plan.growth_skus:
        session = Session(settings, plan, local_broker, progress)
        try:
            session.start()
            skus = sku_names(n_skus, "GROW")
            progress(f"growth: {n_skus:,} SKUs, {plan.growth_events:,} events, no tick")
            catalogue = session.load_catalogue(skus, stock=None)     # one message per SKU: a million SKUs stay quick
            row = session.drain(skus, plan.growth_events, tick=False)
            row["catalogue"] = catalogue
        finally:
            session.close()
        progress(f"  {n_skus:,} SKUs: {row['events_per_s']:,} events/s")
        rows.append(row)
    return rows


MEASUREMENTS = {"throughput": measure_throughput, "latency": measure_latency, "scale": measure_scale,
                "growth": measure_growth}


def run_bench(settings: Settings, plan: BenchPlan = BenchPlan(), local_broker: bool = True,
              progress: Progress = print, on_phase: Callable[[dict], None] = lambda report: None) -> dict:
    """Run ``plan.phases`` in order; ``on_phase`` gets the report so far after each one, so a long run
    that fails late (or is stopped) keeps the figures it already measured."""
    started = time.monotonic()
    report: dict = {"plan": {**dataclasses.asdict(plan), "mix": {"clicks": plan.mix.clicks, "orders": plan.mix.orders}},
                    "pricing_policy": settings.pricing_policy, "restock_policy": settings.restock_policy,
                    "processing_guarantee": settings.processing_guarantee, "partitions": settings.partitions,
                    "store": settings.store}
    for phase in plan.phases:
        report[phase] = MEASUREMENTS[phase](settings, plan, local_broker, progress)
        report["wall_s"] = round(time.monotonic() - started, 1)
        on_phase(report)
    report["wall_s"] = round(time.monotonic() - started, 1)
    return report


def run_bench_command(args, settings: Settings) -> int:
    phases = tuple(args.phases.split(",")) if args.phases else PHASES
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise SystemExit(f"unknown phase(s) {unknown}; choose from {', '.join(PHASES)}")
    plan = BenchPlan(events=args.events, skus=args.skus, latency_rate=args.latency_rate, latency_s=args.latency_s,
                     latency_skus=args.latency_skus, latency_period_s=args.latency_period_s,
                     recovery_skus=args.recovery_skus,
                     growth_skus=tuple(int(n) for n in args.growth_skus.split(",")), growth_events=args.growth_events,
                     phases=phases, seed=args.seed)

    def save(report: dict) -> None:
        if args.out:
            with open(args.out, "w") as out:
                out.write(json.dumps(report, indent=2) + "\n")

    report = run_bench(settings, plan, local_broker=not args.external, progress=log_to_stderr, on_phase=save)
    print(json.dumps(report, indent=2))
    return 0
