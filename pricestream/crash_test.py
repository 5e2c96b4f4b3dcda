"""``pricestream crash-test``: exactly-once under crashes, on the real broker.

A scenario runs through Kafka in lockstep, as ``simulate --kafka`` runs it, while a killer sends the
worker SIGKILL at random moments (seeded: which periods, and how long after the period's events were
written) and restarts it, waiting until it is ready. The lockstep producer waits for the restarted worker:
a period's decisions are read once the group has committed its tick, whichever worker process did it.

At the end every output topic is read afresh, committed events only (read_committed), and compared,
event for event (bytes), with the decisions of an uninterrupted run of the same scenario, seed and
policy: the offline shell's, which ``tests/e2e/test_simulator_shells.py`` proves identical to the
Kafka shell's. The market reacts to the decisions, so a decision lost, duplicated or late would also
change the events of later periods: comparing every period's decisions covers the input side too.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import json
import random
import signal
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from typing import Callable

from pricestream.kafka_clients import read_committed
from pricestream.lockstep import Lockstep, LockstepTimeout
from pricestream.settings import Settings
from pricestream.simulator.kafka_shell import KafkaDriver, end_session, session_settings, worker_log_path
from pricestream.simulator.run import OfflineDriver, simulate
from pricestream.simulator.scenario import Scenario
from pricestream.worker_process import WorkerProcess, start_worker
from schemas.codec import encode
from schemas.topics import OUTPUT_TOPICS

MIN_KILL_WINDOW_S = 0.05


@dataclasses.dataclass(frozen=True)
class Kill:
    period: int             # index of the period (0: the opening events)
    delay: float            # after the period's events are written, in typical period durations


def plan_kills(periods: int, kills: int, seed: int) -> list[Kill]:
    """``kills`` periods at random (none in the first two: the worker has state by then), with delays.

    A delay below 1 lands, typically, while the period's events or its tick are being processed; up to
    1.5, sometimes after the tick was committed, while its decisions are read or the next period starts.

    >>> [k.period for k in plan_kills(periods=40, kills=3, seed=1)]
    [6, 10, 38]
    """
    if kills > periods - 2:
        raise ValueError(f"{kills} kills need at least {kills + 2} periods (there are {periods})")
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(2, periods), kills))
    return [Kill(p, rng.uniform(0.0, 1.5)) for p in chosen]


class Disruptor(abc.ABC):
    """Disrupts a lockstep run on a thread of its own: ``arm`` it after a period's events, it waits
    ``delay_s`` and calls ``disrupt``; the lockstep keeps waiting while one is under way or has just
    happened (``keep_waiting``), and ``join`` re-raises what went wrong on the main thread. The crash
    test kills the worker, the broker-restart test restarts the broker."""

    thread_name = "disruptor"

    def __init__(self, settings: Settings, progress: Callable[[str], None]):
        self.settings = settings
        self.progress = progress
        self._lockstep = Lockstep(settings)         # its own admin client: the main thread uses the producer's
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._busy = False
        self._done = 0
        self._done_seen = 0
        self.error: BaseException | None = None

    @abc.abstractmethod
    def disrupt(self, delay_s: float, produced: Callable[[], dict], period: int) -> None:
        """The disruption itself, on the disruptor's thread, ``delay_s`` after the period's events."""

    def arm(self, delay_s: float, produced: Callable[[], dict], period: int) -> None:
        self.join()
        self._thread = threading.Thread(target=self._run, args=(delay_s, produced, period), daemon=True,
                                        name=self.thread_name)
        with self._lock:
            self._busy = True               # from now until the disruption is over
        self._thread.start()

    def _run(self, delay_s: float, produced: Callable[[], dict], period: int) -> None:
        try:
            time.sleep(delay_s)
            self.disrupt(delay_s, produced, period)
        except BaseException as exc:        # reported by the main thread
            self.error = exc
        finally:
            with self._lock:
                self._busy = False
                self._done += 1

    def uncommitted(self, produced: Callable[[], dict]) -> int:
        """Input messages written and not yet committed by the group: what the disruption catches in flight."""
        ends, committed = produced(), self._lockstep.committed()
        return sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())

    def keep_waiting(self) -> bool:
        """For the lockstep: a disruption is under way or happened since it last asked, so wait on."""
        with self._lock:
            grant = self.error is None and (self._busy or self._done != self._done_seen)
            self._done_seen = self._done
        return grant

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise RuntimeError(f"the {self.thread_name} failed: {self.error}") from self.error

    def close(self) -> None:
        self._lockstep.close()


class Killer(Disruptor):
    """Kills the worker with SIGKILL and restarts it."""

    thread_name = "crash-test-killer"

    def __init__(self, settings: Settings, worker: WorkerProcess, progress: Callable[[str], None]):
        super().__init__(settings, progress)
        self.worker = worker
        self.kills: list[dict] = []
        self.recovery_s: list[float] = []

    def disrupt(self, delay_s: float, produced: Callable[[], dict], period: int) -> None:
        uncommitted = self.uncommitted(produced)
        self.worker.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        worker = start_worker(self.settings, worker_log_path(self.settings))
        recovery = time.monotonic() - killed_at
        with self._lock:
            self.worker = worker
            self.recovery_s.append(recovery)
            self.kills.append({"period": period, "after_s": round(delay_s, 3),
                               "uncommitted_input_at_kill": uncommitted, "recovery_s": round(recovery, 2)})
        self.progress(f"killed the worker in period {period} ({delay_s:.2f} s after its events, "
                      f"{uncommitted} input messages not yet committed); restarted, ready in {recovery:.1f} s")


class CrashingDriver(KafkaDriver):
    """The Kafka shell, with a killer armed in the planned periods after their events are written."""

    def __init__(self, settings: Settings, killer: Killer, plan: list[Kill]):
        super().__init__(settings)
        self.killer = killer
        self.keep_waiting = killer.keep_waiting
        self.plan = {k.period: k for k in plan}
        self.period = 0
        self.events = 0
        self.period_s: list[float] = []       # wall time of periods without a kill: the kill window

    def run_period(self, events: list, tick_time_ms: int) -> list[tuple[str, bytes]]:
        started = time.monotonic()
        self.events += len(events)
        try:
            decisions = super().run_period(events, tick_time_ms)
        except LockstepTimeout:
            self.killer.join()          # a failed restart is the cause, if there was one
            raise
        if self.period not in self.plan:
            self.period_s.append(time.monotonic() - started)
        self.period += 1
        return decisions

    def before_tick(self) -> None:
        kill = self.plan.get(self.period)
        if kill is None:
            return
        self.producer.flush()
        typical = statistics.median(self.period_s[-20:]) if self.period_s else 0.2
        self.killer.arm(max(MIN_KILL_WINDOW_S, kill.delay * typical), self.producer.produced, self.period)


def _identity(topic: str, value: bytes) -> tuple[str, bytes]:
    """(whose sequence, what is compared): a decision's SKU and its bytes; for a dead letter, the input
    partition it came from and its id (its record timestamp is the broker's, unknown offline)."""
    event = json.loads(value)
    if topic == "dead-letter":
        return f"{event['source_topic']}[{event['partition']}]", event["event_id"].encode()
    return event["sku"], value


def compare(reference: dict[str, list[bytes]], output: dict[str, list[bytes]]) -> dict:
    """Per topic: events lost (in the reference, not in the output), duplicated (more copies than the
    reference has), extra (not in the reference at all), and whether each SKU's sequence is identical.

    >>> a, b, c = (b'{"sku": "A", "n": %d}' % n for n in (1, 2, 3))
    >>> r = compare({"price-changes": [a, b]}, {"price-changes": [a, a, b, c]})["price-changes"]
    >>> {k: r[k] for k in ("lost", "duplicated", "extra", "identical", "differing")}
    {'lost': 0, 'duplicated': 1, 'extra': 1, 'identical': False, 'differing': ['A']}
    >>> compare({"restock-orders": [a, b]}, {"restock-orders": [b]})["restock-orders"]["lost"]
    1
    """
    result = {}
    for topic in sorted(set(reference) | set(output)):
        sequences: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        for side, events in enumerate((reference.get(topic, []), output.get(topic, []))):
            for value in events:
                owner, ident = _identity(topic, value)
                sequences[owner][side].append(ident)
        want = Counter(i for r, _ in sequences.values() for i in r)
        got = Counter(i for _, o in sequences.values() for i in o)
        differing = sorted(owner for owner, (r, o) in sequences.items() if r != o)
        first = None
        if differing:       # where the first differing sequence parts: enough to find the moment
            r, o = sequences[differing[0]]
            at = next(i for i in range(max(len(r), len(o))) if i >= len(r) or i >= len(o) or r[i] != o[i])
            first = {"owner": differing[0], "index": at,
                     "reference": r[at].decode()[:400] if at < len(r) else None,
                     "output": o[at].decode()[:400] if at < len(o) else None}
        result[topic] = {
            "reference": sum(want.values()), "output": sum(got.values()),
            "lost": sum((want - got).values()),
            "duplicated": sum(max(0, got[i] - n) for i, n in want.items()),
            "extra": sum(n for i, n in got.items() if i not in want),
            "identical": not differing,
            "differing": differing[:10],
            "first_difference": first,
        }
    return result


def market_difference(seen: list[tuple[str, bytes]], reference: list[tuple[str, bytes]]) -> dict | None:
    """Where the decisions the market applied, in order, first part from the reference run's: the
    period and SKU on each side (None when they are the same).

    >>> d = lambda sku, t: ("price-changes", b'{"sku": "%s", "event_time_ms": %d}' % (sku.encode(), t))
    >>> market_difference([d("A", 1), d("B", 1)], [d("A", 1), d("B", 1)]) is None
    True
    >>> market_difference([d("A", 1), d("B", 2)], [d("A", 1), d("B", 1), d("B", 2)])
    {'index': 1, 'seen': ['price-changes', 'B', 2], 'reference': ['price-changes', 'B', 1]}
    """
    def where(decisions: list, at: int) -> list | None:
        if at >= len(decisions):
            return None
        event = json.loads(decisions[at][1])
        return [decisions[at][0], event.get("sku"), event.get("event_time_ms")]

    at = next((i for i in range(max(len(seen), len(reference)))
               if i >= len(seen) or i >= len(reference) or seen[i] != reference[i]), None)
    return None if at is None else {"index": at, "seen": where(seen, at), "reference": where(reference, at)}


def reference_run(scenario: Scenario, settings: Settings, seed: int) -> tuple[dict[str, list[bytes]], object]:
    """The decisions and dead letters of an uninterrupted run, from the offline shell."""
    from streams.app import engine_config

    driver = OfflineDriver(engine_config(settings), settings.partitions, settings.max_payload_bytes)
    result = simulate(scenario, driver, seed)
    events: dict[str, list[bytes]] = {t: [] for t in OUTPUT_TOPICS}
    for topic, raw in result.decisions:
        events[topic].append(raw)
    events["dead-letter"] += [encode(letter) for letter in driver.dead_letters]
    return events, result


def run_crash_test(scenario: Scenario, settings: Settings, seed: int, kills: int = 5, kill_seed: int | None = None,
                   local_broker: bool = True, progress: Callable[[str], None] = print,
                   make_killer: Callable[..., Killer] | None = None,
                   make_driver: Callable[..., CrashingDriver] | None = None,
                   more_disruptions: list[Kill] = ()) -> dict:
    """Run ``scenario`` through Kafka with ``kills`` SIGKILLs of the worker; compare with an uninterrupted run.

    ``make_killer``, ``make_driver`` and ``more_disruptions`` (periods the killer handles its own way)
    let other disruptions reuse the run (``pricestream.broker_restart``)."""
    started = time.monotonic()
    plan = plan_kills(scenario.periods + 1, kills, seed if kill_seed is None else kill_seed)
    reference, offline = reference_run(scenario, settings, seed)

    settings = session_settings(settings, local_broker, progress)
    worker = start_worker(settings, worker_log_path(settings))
    progress(f"worker started (policy {settings.pricing_policy}, store {settings.store}, topics "
             f"{settings.topic_prefix}*, log {worker.log_path}); kills planned in periods "
             f"{[k.period for k in plan]}")
    killer = (make_killer or Killer)(settings, worker, progress)
    driver = (make_driver or CrashingDriver)(settings, killer, [*plan, *more_disruptions])
    try:
        via_kafka = simulate(scenario, driver, seed)
        killer.join()
        output = read_committed(settings)
    finally:
        with contextlib.suppress(RuntimeError):
            killer.join()       # a restart under way: wait, so that no worker is left running
        driver.close()
        killer.close()
        killer.worker.stop()
        end_session(settings)

    per_topic = compare(reference, output)
    recovery = killer.recovery_s
    return {
        "scenario": scenario.name, "policy": settings.pricing_policy, "restock_policy": settings.restock_policy,
        "store": settings.store, "processing_guarantee": settings.processing_guarantee, "seed": seed,
        "skus": len(scenario.skus), "periods": scenario.periods,
        "events": driver.events, "ticks": (scenario.periods + 1) * settings.partitions,
        "decisions": sum(len(v) for t, v in reference.items() if t != "dead-letter"),
        "kills": len(killer.kills), "restarts": len(recovery),
        "lost": sum(t["lost"] for t in per_topic.values()),
        "duplicated": sum(t["duplicated"] for t in per_topic.values()),
        "extra": sum(t["extra"] for t in per_topic.values()),
        "dead_letters": len(output.get("dead-letter", [])),
        "identical": all(t["identical"] for t in per_topic.values()),
        "market_saw_identical_decisions": via_kafka.decisions == offline.decisions,
        "market_first_difference": market_difference(via_kafka.decisions, offline.decisions),
        "report_identical": via_kafka.report == offline.report,
        "recovery_s": {"mean": round(statistics.fmean(recovery), 2) if recovery else None,
                       "max": round(max(recovery), 2) if recovery else None},
        "per_topic": per_topic,
        "kill_log": killer.kills,
        **(killer.extra_figures() if hasattr(killer, "extra_figures") else {}),
        "wall_s": round(time.monotonic() - started, 1),
    }


def passed(report: dict) -> bool:
    return (report["lost"] == 0 and report["duplicated"] == 0 and report["extra"] == 0 and report["identical"]
            and report["market_saw_identical_decisions"] and report.get("worker_restarts_unasked", 0) == 0)


def harness_scenario(args, days: float | None = None, periods: int | None = None) -> tuple[Scenario, int]:
    """The scenario and market seed a harness command's ``--scenario --days --periods --skus --seed`` ask
    for; ``days`` or ``periods`` is the horizon when neither flag is given."""
    from pricestream.simulator.cli import scenario_for

    if args.days is None and args.periods is None:
        args.days, args.periods = days, periods
    scenario = scenario_for(args)
    if args.skus:
        scenario = dataclasses.replace(scenario, skus=scenario.skus[:args.skus])
    return scenario, scenario.seed if args.seed is None else args.seed


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_crash_test_command(args, settings: Settings) -> int:
    scenario, seed = harness_scenario(args, days=2.0)
    log = log_to_stderr
    log(f"crash test: {scenario.name}, {len(scenario.skus)} SKUs, {scenario.periods} periods, seed {seed}, "
        f"{args.kills} kills, policy {settings.pricing_policy}")
    restarts = getattr(args, "broker_restarts", 0)
    if restarts and args.external:
        raise SystemExit("--broker-restarts restarts the project's local broker: not with --external")
    if restarts:
        from pricestream.broker_restart import run_broker_restart_test
        log(f"and {restarts} broker restarts of the local broker on port {settings.kafka_port}")
        report = run_broker_restart_test(scenario, settings, seed, restarts, kills=args.kills,
                                         kill_seed=args.kill_seed, max_outage_s=args.max_outage_s,
                                         stops=args.broker_stops, progress=log)
    else:
        report = run_crash_test(scenario, settings, seed, kills=args.kills, kill_seed=args.kill_seed,
                                local_broker=not args.external, progress=log)
    print(json.dumps(report, indent=2))
    return 0 if passed(report) else 1
