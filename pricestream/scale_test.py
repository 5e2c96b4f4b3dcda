"""``pricestream scale-test``: several workers in one consumer group, on the real broker.

A scenario runs through Kafka in lockstep (as ``simulate --kafka`` and ``crash-test`` run it) with
``--workers`` workers in one group; mid-run, in planned periods and at a seeded delay after the
period's events were written, the group changes: ``--add`` workers join, ``--stop`` workers leave
gracefully (SIGTERM) and ``--kill`` workers die (SIGKILL, not restarted). Every change is a rebalance
that moves partitions, and their state, between live workers.

At the end the committed outputs (read_committed) are compared with an uninterrupted single-worker
run of the same scenario, seed and policy (the offline shell's, identical to one worker's through
Kafka: ``tests/e2e/test_simulator_shells.py``), as ``crash-test`` compares them: every decision byte for
byte, every SKU's sequence in order. Each output carries the worker that wrote it (a header), so the
run also shows who decided what: no SKU's period decided by two workers, no decision id twice, and
how long each hand-over stalled the partitions that moved.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

from agents.decide import WORKER_HEADER
from pricestream.crash_test import CrashingDriver, Disruptor, compare, market_difference, reference_run
from pricestream.kafka_clients import read_committed
from pricestream.lockstep import LockstepTimeout
from pricestream.settings import Settings
from pricestream.simulator.kafka_shell import end_session, session_settings
from pricestream.simulator.run import simulate
from pricestream.simulator.scenario import Scenario
from pricestream.topics_admin import ensure_topics
from pricestream.worker_process import WorkerProcess, start_worker

CHANGES = ("add", "stop", "kill")


@dataclasses.dataclass(frozen=True)
class GroupChange:
    period: int             # index of the period (0: the opening events)
    delay: float            # after the period's events are written, in typical period durations
    kind: str               # add, stop (SIGTERM) or kill (SIGKILL)


def plan_changes(periods: int, add: int, stop: int, kill: int, seed: int) -> list[GroupChange]:
    """The changes spread evenly over the run (additions first), each at a random delay.

    >>> [(c.period, c.kind) for c in plan_changes(periods=30, add=1, stop=1, kill=0, seed=1)]
    [(10, 'add'), (20, 'stop')]
    """
    kinds = ["add"] * add + ["stop"] * stop + ["kill"] * kill
    if len(kinds) > periods - 2:
        raise ValueError(f"{len(kinds)} group changes need at least {len(kinds) + 2} periods (there are {periods})")
    rng = random.Random(seed)
    step = periods / (len(kinds) + 1)
    return [GroupChange(round(step * (i + 1)), rng.uniform(0.0, 1.5), kind) for i, kind in enumerate(kinds)]


@dataclasses.dataclass
class GroupMember:
    name: str                       # w1, w2, ...
    settings: Settings              # its own web port and home (data directory)
    process: WorkerProcess | None = None
    started_at: float = 0.0         # wall clock (epoch s), when its process was started
    left_at: float | None = None    # when it was stopped or killed

    @property
    def identity(self) -> str:
        """What the worker writes in its outputs' header (``agents.decide.worker_identity``)."""
        return f"{socket.gethostname()}:{self.process.process.pid}"


class WorkerGroup:
    """Worker processes of one consumer group, each with its own status port and data directory."""

    def __init__(self, settings: Settings, log_dir: Path, free_port: Callable[[], int]):
        self.settings = settings
        self.log_dir = log_dir
        self.free_port = free_port
        self.members: list[GroupMember] = []
        self.unasked_exits: list[str] = []
        self._lock = threading.Lock()

    def home(self) -> Path:
        return self.settings.home / "scale-test" / self.settings.app_id

    def start(self, count: int) -> list[GroupMember]:
        """Start ``count`` workers at once (one rebalance, not one per worker); return when all are ready."""
        ensure_topics(self.settings)
        with self._lock:
            new = [GroupMember(f"w{len(self.members) + i + 1}", self.settings.replace(
                web_port=self.free_port(), home=self.home() / f"w{len(self.members) + i + 1}"))
                for i in range(count)]
            self.members += new
        errors: list[BaseException] = []

        def start_one(member: GroupMember) -> None:
            try:
                member.started_at = time.time()
                member.process = start_worker(member.settings, self.log_dir / f"worker-{self.settings.app_id}-"
                                                                              f"{member.name}.log")
            except BaseException as exc:        # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start_one, args=(m,), name=f"start-{m.name}") for m in new]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(f"a worker did not start: {errors[0]}") from errors[0]
        return new

    def live(self) -> list[GroupMember]:
        return [m for m in self.members if m.left_at is None and m.process is not None]

    def crashed(self) -> list[str]:
        """Workers that exited unasked (the test fails on them); they count as gone from then on."""
        gone = [m for m in self.live() if not m.process.alive()]
        for m in gone:
            m.left_at = time.time()
            self.unasked_exits.append(m.name)
        return [m.name for m in gone]

    def remove(self, member: GroupMember, sig: int) -> None:
        member.left_at = time.time()
        member.process.stop(sig)

    def statuses(self) -> dict[str, dict]:
        """Each live worker's status page (its partitions, active and standby)."""
        out = {}
        for m in self.live():
            try:
                out[m.name] = m.process.status()
            except OSError as exc:
                out[m.name] = {"error": str(exc)}
        return out

    def stop_all(self) -> None:
        """All at once: one after the other, each departure would be a rebalance for the rest."""
        threads = [threading.Thread(target=self.remove, args=(m, signal.SIGTERM)) for m in self.live()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def cleanup(self) -> None:
        shutil.rmtree(self.home(), ignore_errors=True)


class GroupChanger(Disruptor):
    """Carries out the planned group changes, as ``crash_test.Killer`` kills, so that
    ``crash_test.CrashingDriver`` drives it."""

    thread_name = "scale-test-changer"

    def __init__(self, group: WorkerGroup, plan: list[GroupChange], seed: int, progress: Callable[[str], None]):
        super().__init__(group.settings, progress)
        self.group = group
        self.plan = {c.period: c for c in plan}
        self.rng = random.Random(seed)
        self.log: list[dict] = []
        self.standbys_before: list[dict] = []       # each worker's partitions just before each change

    def arm(self, delay_s: float, produced: Callable[[], dict], period: int) -> None:
        self.join()
        self.standbys_before.append({"period": period, "partitions": {
            name: s.get("partitions") for name, s in self.group.statuses().items()}})
        super().arm(delay_s, produced, period)

    def disrupt(self, delay_s: float, produced: Callable[[], dict], period: int) -> None:
        change = self.plan[period]
        uncommitted = self.uncommitted(produced)
        crashed = self.group.crashed()
        if crashed:
            self.progress(f"period {period}: worker(s) {crashed} exited by themselves (see their logs)")
        started = time.monotonic()
        if change.kind == "add":
            member = self.group.start(1)[0]
            at = member.started_at
        else:
            member = self.rng.choice(self.group.live())
            self.group.remove(member, signal.SIGTERM if change.kind == "stop" else signal.SIGKILL)
            at = member.left_at
        took = time.monotonic() - started
        with self._lock:
            self.log.append({"period": period, "change": change.kind, "worker": member.name,
                             "after_s": round(delay_s, 3), "at": at, "uncommitted_input": uncommitted,
                             "took_s": round(took, 2)})
        verb = {"add": "started, ready in", "stop": "stopped (SIGTERM) in", "kill": "killed (SIGKILL) in"}
        self.progress(f"period {period}: worker {member.name} {verb[change.kind]} {took:.1f} s "
                      f"({delay_s:.2f} s after the period's events, {uncommitted} input messages uncommitted)")


@dataclasses.dataclass(frozen=True)
class OutputRecord:
    value: bytes
    partition: int
    timestamp_s: float      # when the worker sent it (the producer's create time)
    worker: str | None      # the worker header


def _keep(message) -> OutputRecord:
    headers = dict(message.headers or [])
    worker = headers.get(WORKER_HEADER)
    return OutputRecord(message.value, message.partition, message.timestamp / 1000.0,
                        worker.decode() if worker is not None else None)


def ownership(records: dict[str, list[OutputRecord]], names: dict[str, str]) -> dict:
    """Who decided what: per worker, how many outputs; every (SKU, period) decided by one worker only;
    each SKU's owner changes (its outputs in time order); decision ids written twice.

    >>> r = lambda sku, t, w, ts: OutputRecord(json.dumps({"sku": sku, "event_time_ms": t, "event_id": f"{sku}{t}{w}"}
    ...                                        ).encode(), 0, ts, w)
    >>> o = ownership({"price-changes": [r("A", 1, "x", 1.0), r("A", 2, "y", 2.0), r("A", 2, "x", 2.1)]}, {"x": "w1", "y": "w2"})
    >>> o["outputs_by_worker"], o["periods_decided_by_two_workers"], o["max_owner_changes_per_sku"]
    ({'w1': 2, 'w2': 1}, 1, 2)
    """
    by_worker: Counter = Counter()
    deciders: dict[tuple[str, int], set] = defaultdict(set)
    timeline: dict[str, list[tuple[float, str]]] = defaultdict(list)
    ids: Counter = Counter()
    unattributed = 0
    for topic, recs in records.items():
        for rec in recs:
            event = json.loads(rec.value)
            worker = names.get(rec.worker, rec.worker)
            unattributed += rec.worker is None
            by_worker[worker] += 1
            ids[(topic, event["event_id"])] += 1
            if topic == "dead-letter":
                continue            # a dead letter belongs to an input partition, not to a SKU's period
            deciders[(event["sku"], event["event_time_ms"])].add(worker)
            timeline[event["sku"]].append((rec.timestamp_s, worker))
    changes = {}
    for sku, events in timeline.items():
        owners = [w for _, w in sorted(events, key=lambda e: e[0])]
        changes[sku] = sum(a != b for a, b in zip(owners, owners[1:]))
    return {
        "outputs_by_worker": dict(sorted(by_worker.items(), key=lambda kv: str(kv[0]))),
        "unattributed_outputs": unattributed,
        "periods_decided_by_two_workers": sum(len(w) > 1 for w in deciders.values()),
        "duplicate_event_ids": sum(n - 1 for n in ids.values() if n > 1),
        "max_owner_changes_per_sku": max(changes.values(), default=0),
    }


def handovers(records: dict[str, list[OutputRecord]], log: list[dict], names: dict[str, str]) -> list[dict]:
    """Per group change, the partitions it moved (their outputs' writer changed: from the worker that
    left, or to the one that joined) and how long each went without decisions: from the old owner's
    last output to the new owner's first (``gap_s``; a partition's outputs come at its ticks, so this
    includes the time between two periods), and from the change itself (``from_change_s``: the
    signal for a stop or kill, the process start for an addition)."""
    by_partition: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for recs in records.values():
        for rec in recs:
            by_partition[rec.partition].append((rec.timestamp_s, names.get(rec.worker, rec.worker)))
    moves = []          # (partition, old owner, new owner, old owner's last output, new owner's first)
    for partition, events in by_partition.items():
        events.sort()
        moves += [(partition, a[1], b[1], a[0], b[0]) for a, b in zip(events, events[1:]) if a[1] != b[1]]
    out = []
    for change in log:
        at, gaps, waits, seen = change["at"], [], [], set()
        for partition, old, new, last_old, first_new in sorted(moves, key=lambda m: m[4]):
            ours = new == change["worker"] if change["change"] == "add" else old == change["worker"]
            if first_new >= at and ours and partition not in seen:
                seen.add(partition)
                gaps.append(first_new - last_old)
                waits.append(first_new - at)
        figures = lambda xs: {"mean": round(statistics.fmean(xs), 2), "max": round(max(xs), 2)} if xs else None  # noqa: E731
        out.append({"period": change["period"], "change": change["change"], "worker": change["worker"],
                    "partitions_moved": len(seen), "gap_s": figures(gaps), "from_change_s": figures(waits)})
    return out


STANDBY_TAKEOVER = re.compile(r"taken over from its standby copy at offset (\d+) of (\d+)")
FULL_RECOVERY = re.compile(r"read from the changelog.s start: (\d+) offsets")


def standby_figures(statuses: dict[str, dict], logs: dict[Path, int]) -> dict:
    """Standbys: each live worker's active and standby partitions at the end, whether every partition has
    a standby on a worker other than its owner, and, from the workers' logs (``logs``: each one's size at
    the end of the run), the state partitions taken over from a standby copy (records read then)
    against those rebuilt from the changelog's start."""
    partitions = {name: s.get("partitions", {}) for name, s in statuses.items()}
    owner = {p: name for name, ps in partitions.items() for p in ps.get("active", [])}
    standby_on = defaultdict(set)
    for name, ps in partitions.items():
        for p in ps.get("standby", []):
            standby_on[p].add(name)
    takeovers, skipped, full = [], [], []
    for path, size in logs.items():
        text = path.read_bytes()[:size].decode(errors="replace") if path.exists() else ""
        found = [(int(at), int(end)) for at, end in STANDBY_TAKEOVER.findall(text)]
        takeovers += [end - at for at, end in found]
        skipped += [at + 1 for at, _ in found]
        full += [int(n) for n in FULL_RECOVERY.findall(text)]
    return {
        "partitions_at_end": partitions,
        "every_partition_has_a_standby_elsewhere": bool(owner) and all(
            standby_on[p] - {name} for p, name in owner.items()),
        "takeovers_from_standby": len(takeovers),
        "records_read_at_takeover": {"total": sum(takeovers), "max": max(takeovers, default=0)},
        "records_not_read_thanks_to_standbys": sum(skipped),      # a copy's offsets: read from the start without one
        "recoveries_from_changelog_start": len(full),
        "records_read_from_start": {"total": sum(full), "max": max(full, default=0)},
    }


def run_scale_test(scenario: Scenario, settings: Settings, seed: int, workers: int = 3, add: int = 1, stop: int = 1,
                   kill: int = 0, change_seed: int | None = None, local_broker: bool = True,
                   progress: Callable[[str], None] = print) -> dict:
    """Run ``scenario`` through Kafka with a group of ``workers`` that grows and shrinks mid-run; compare
    its committed outputs with a single uninterrupted worker's."""
    from pricestream.simulator.kafka_shell import _free_port

    started = time.monotonic()
    if stop + kill >= workers + add:
        raise ValueError("at least one worker has to stay")
    change_seed = seed if change_seed is None else change_seed
    plan = plan_changes(scenario.periods + 1, add, stop, kill, change_seed)
    reference, offline = reference_run(scenario, settings, seed)

    settings = session_settings(settings, local_broker, progress)
    group = WorkerGroup(settings, settings.home / "simulate", _free_port)
    changer = None
    try:
        group.start(workers)
        progress(f"{workers} workers started (policy {settings.pricing_policy}, {settings.partitions} partitions, "
                 f"standby replicas {settings.standby_replicas}, group {settings.app_id}); changes planned: "
                 f"{[(c.period, c.kind) for c in plan]}")
        changer = GroupChanger(group, plan, change_seed, progress)
        driver = CrashingDriver(settings, changer, plan)
        try:
            try:
                via_kafka = simulate(scenario, driver, seed)
            except LockstepTimeout:
                progress(f"the group stalled; its workers' partitions: "
                         f"{ {name: s.get('partitions', s) for name, s in group.statuses().items()} }")
                raise
            changer.join()
            statuses = group.statuses()
            group.crashed()
            logs = {m.process.log_path: m.process.log_path.stat().st_size for m in group.members if m.process}
            output = read_committed(settings, keep=_keep)
        finally:
            driver.close()
    finally:
        if changer is not None:
            changer.close()
        group.stop_all()
        end_session(settings)
        group.cleanup()

    names = {m.identity: m.name for m in group.members if m.process is not None}
    per_topic = compare(reference, {t: [r.value for r in recs] for t, recs in output.items()})
    return {
        "scenario": scenario.name, "policy": settings.pricing_policy, "restock_policy": settings.restock_policy,
        "store": settings.store, "processing_guarantee": settings.processing_guarantee, "seed": seed,
        "skus": len(scenario.skus), "periods": scenario.periods, "partitions": settings.partitions,
        "workers": workers, "added": add, "stopped": stop, "killed": kill,
        "events": driver.events, "decisions": sum(len(v) for t, v in reference.items() if t != "dead-letter"),
        "lost": sum(t["lost"] for t in per_topic.values()),
        "duplicated": sum(t["duplicated"] for t in per_topic.values()),
        "extra": sum(t["extra"] for t in per_topic.values()),
        "identical": all(t["identical"] for t in per_topic.values()),
        "market_saw_identical_decisions": via_kafka.decisions == offline.decisions,
        "market_first_difference": market_difference(via_kafka.decisions, offline.decisions),
        **ownership(output, names),
        "handovers": handovers(output, changer.log, names),
        "workers_crashed": group.unasked_exits,
        "standbys": {**standby_figures(statuses, logs), "before_changes": changer.standbys_before},
        "change_log": changer.log,
        "per_topic": per_topic,
        "wall_s": round(time.monotonic() - started, 1),
    }


def passed(report: dict) -> bool:
    return (report["lost"] == 0 and report["duplicated"] == 0 and report["extra"] == 0 and report["identical"]
            and report["market_saw_identical_decisions"] and report["periods_decided_by_two_workers"] == 0
            and report["duplicate_event_ids"] == 0 and report["unattributed_outputs"] == 0
            and not report["workers_crashed"])


def run_scale_test_command(args, settings: Settings) -> int:
    from pricestream.simulator.cli import scenario_for

    if args.days is None and args.periods is None:
        args.days = 1.0
    scenario = scenario_for(args)
    if args.skus:
        scenario = dataclasses.replace(scenario, skus=scenario.skus[:args.skus])
    seed = scenario.seed if args.seed is None else args.seed
    if args.partitions:
        settings = settings.replace(partitions=args.partitions)
    log = lambda message: print(message, file=sys.stderr, flush=True)      # noqa: E731
    log(f"scale test: {scenario.name}, {len(scenario.skus)} SKUs, {scenario.periods} periods, seed {seed}, "
        f"{args.workers} workers, +{args.add} -{args.stop} stopped -{args.kill} killed, "
        f"{settings.partitions} partitions, policy {settings.pricing_policy}")
    report = run_scale_test(scenario, settings, seed, workers=args.workers, add=args.add, stop=args.stop,
                            kill=args.kill, change_seed=args.change_seed, local_broker=not args.external,
                            progress=log)
    print(json.dumps(report, indent=2))
    return 0 if passed(report) else 1
