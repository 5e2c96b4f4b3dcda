"""``pricestream crash-test --broker-restarts N``: the broker stops and starts again mid-run.

The crash test's lockstep run, with the local broker stopped at random moments (seeded: which periods,
how long after the period's events were written, how long it stays down, and whether it is a clean
shutdown or a SIGKILL of the broker's JVM) and started again on the same port and data directory,
while the worker keeps running. The worker must wait and resume on its own: a worker that died is
restarted so that the run can finish, but counted (``worker_restarts_unasked``), and the test fails.
The lockstep producer waits through the outage (its writes are idempotent and retried). At the end
the committed outputs are compared with an uninterrupted run, as for kills.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from typing import Callable

from kafka.errors import KafkaError

from pricestream.crash_test import CrashingDriver, Kill, Killer, plan_kills, run_crash_test
from pricestream.localkafka import LocalBroker
from pricestream.settings import Settings
from pricestream.simulator.kafka_shell import worker_log_path
from pricestream.simulator.scenario import Scenario
from pricestream.worker_process import WorkerProcess, start_worker

RESUME_TIMEOUT_S = 120      # after the broker is back, how long the worker has to commit again


@dataclasses.dataclass(frozen=True)
class BrokerRestart(Kill):
    hard: bool = False          # SIGKILL of the broker's JVM instead of a clean shutdown
    outage_s: float = 0.0       # how long the broker stays down


STOPS = ("both", "clean", "kill")      # every other stop a SIGKILL; only clean shutdowns; only SIGKILLs


def plan_broker_restarts(periods: int, restarts: int, seed: int, taken: set[int] = frozenset(),
                         max_outage_s: float = 10.0, stops: str = "both") -> list[BrokerRestart]:
    """``restarts`` periods at random (not the first two nor the last, none of ``taken``); with ``stops``
    "both" every other one hard.

    >>> [(r.period, r.hard) for r in plan_broker_restarts(periods=40, restarts=3, seed=1, taken={6})]
    [(9, False), (10, True), (17, False)]
    """
    free = [p for p in range(2, periods - 1) if p not in taken]
    if restarts > len(free):
        raise ValueError(f"{restarts} broker restarts need {restarts} free periods (there are {len(free)})")
    rng = random.Random(seed ^ 0x5EED)
    chosen = sorted(rng.sample(free, restarts))
    hard = {"both": lambda i: i % 2 == 1, "clean": lambda i: False, "kill": lambda i: True}[stops]
    return [BrokerRestart(p, rng.uniform(0.0, 1.5), hard=hard(i), outage_s=rng.uniform(0.0, max_outage_s))
            for i, p in enumerate(chosen)]


class BrokerRestarter(Killer):
    """The crash test's killer, which in the planned periods restarts the broker instead of the worker."""

    def __init__(self, settings: Settings, worker: WorkerProcess, progress: Callable[[str], None],
                 broker: LocalBroker, restarts: list[BrokerRestart]):
        super().__init__(settings, worker, progress)
        self.broker = broker
        self.restarts = {r.period: r for r in restarts}
        self.broker_log: list[dict] = []
        self.worker_restarts_unasked = 0

    def disrupt(self, delay_s: float, produced: Callable[[], dict], period: int) -> None:
        if period not in self.restarts:
            return super().disrupt(delay_s, produced, period)
        self._restart_broker(delay_s, self.restarts[period], produced)

    def _restart_broker(self, delay_s: float, plan: BrokerRestart, produced: Callable[[], dict]) -> None:
        pid_before = self.broker.status().pid
        stopped_at = time.monotonic()
        if plan.hard:
            self.broker.kill()
        else:
            self.broker.stop()
        down_at = time.monotonic()
        time.sleep(plan.outage_s)
        self.broker.start(progress=lambda _: None)
        back_at = time.monotonic()
        pids = [pid_before, self.broker.status().pid]
        resumed_s = self._wait_resumed(back_at, produced)
        entry = {"period": plan.period, "after_s": round(delay_s, 3), "hard": plan.hard,
                 "stop_s": round(down_at - stopped_at, 2), "outage_s": round(back_at - stopped_at, 2),
                 "resumed_s": round(resumed_s, 2), "worker_alive": self.worker.alive(),
                 "broker_pids": pids}
        with self._lock:
            self.broker_log.append(entry)
        self.progress(f"{'killed' if plan.hard else 'stopped'} the broker in period {plan.period} "
                      f"({delay_s:.2f} s after its events); down {entry['outage_s']:.1f} s, "
                      f"the worker committed again {resumed_s:.1f} s after the broker was back")

    def _wait_resumed(self, back_at: float, produced: Callable[[], dict]) -> float:
        """Seconds from the broker's return until the group's commits move, or it has committed all that
        was written (nothing to move for).

        A worker that died meanwhile is restarted, and counted: it should have waited.
        """
        before = self._committed_when_it_answers(back_at + RESUME_TIMEOUT_S)
        while time.monotonic() < back_at + RESUME_TIMEOUT_S:
            self._restart_a_dead_worker()
            committed = self._safe_committed()
            if committed is not None and (committed != before or all(
                    committed.get(p, 0) >= end for p, end in produced().items())):
                return time.monotonic() - back_at
            time.sleep(0.05)
        raise TimeoutError(f"the worker committed nothing in {RESUME_TIMEOUT_S} s after the broker came back")

    def _restart_a_dead_worker(self) -> bool:
        """If the worker died (it should have waited for the broker), restart it and count it."""
        if self.worker.alive():
            return False
        self.worker_restarts_unasked += 1
        self.progress(f"the worker died (exit {self.worker.process.returncode}); restarting it")
        worker = start_worker(self.settings, worker_log_path(self.settings))
        with self._lock:
            self.worker = worker
        return True

    def _committed_when_it_answers(self, deadline: float) -> dict:
        while time.monotonic() < deadline:
            committed = self._safe_committed()
            if committed is not None:
                return committed
            time.sleep(0.1)
        raise TimeoutError("the group coordinator did not answer after the broker came back")

    def _safe_committed(self) -> dict | None:
        try:
            return self._lockstep.committed()
        except KafkaError:
            return None

    def keep_waiting(self) -> bool:
        """A worker or broker restart is under way, or happened since the lockstep last asked (a worker
        that died after the broker came back is restarted here, and counted)."""
        with self._lock:
            busy = self._busy
        if not busy and self.error is None and self._restart_a_dead_worker():
            return True
        return super().keep_waiting()

    def extra_figures(self) -> dict:
        outages = [r["outage_s"] for r in self.broker_log]
        resumed = [r["resumed_s"] for r in self.broker_log]
        return {
            "broker_restarts": len(self.broker_log),
            "broker_hard_kills": sum(r["hard"] for r in self.broker_log),
            "broker_outage_s": {"mean": round(statistics.fmean(outages), 2) if outages else None,
                                "max": round(max(outages), 2) if outages else None},
            "broker_recovery_s": {"mean": round(statistics.fmean(resumed), 2) if resumed else None,
                                  "max": round(max(resumed), 2) if resumed else None},
            "worker_restarts_unasked": self.worker_restarts_unasked,
            "broker_restart_log": self.broker_log,
        }


class OutageProofDriver(CrashingDriver):
    """The crash test's driver, whose reads of the decisions wait through a broker outage."""

    def _read_to_end(self) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + RESUME_TIMEOUT_S
        while True:
            try:
                return super()._read_to_end()
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def run_broker_restart_test(scenario: Scenario, settings: Settings, seed: int, broker_restarts: int,
                            kills: int = 0, kill_seed: int | None = None, broker: LocalBroker | None = None,
                            max_outage_s: float = 10.0, stops: str = "both",
                            progress: Callable[[str], None] = print) -> dict:
    """The crash test with ``broker_restarts`` restarts of ``broker`` (default: the local one) on top of
    ``kills`` worker kills, in other periods."""
    own_broker = broker is None
    broker = broker or LocalBroker(settings)
    periods, restart_seed = scenario.periods + 1, seed if kill_seed is None else kill_seed
    kill_periods = {k.period for k in plan_kills(periods, kills, restart_seed)}
    restarts = plan_broker_restarts(periods, broker_restarts, restart_seed, kill_periods, max_outage_s, stops)
    progress(f"broker restarts planned in periods {[r.period for r in restarts]} "
             f"(hard kills in {[r.period for r in restarts if r.hard]})")
    if not own_broker:
        settings = broker.client_settings(settings)       # its address (and CA, in secure mode)

    def make_killer(settings: Settings, worker: WorkerProcess, progress: Callable[[str], None]) -> Killer:
        return BrokerRestarter(settings, worker, progress, broker, restarts)

    report = run_crash_test(scenario, settings, seed, kills=kills, kill_seed=kill_seed, local_broker=own_broker,
                            progress=progress, make_killer=make_killer, make_driver=OutageProofDriver,
                            more_disruptions=restarts)
    return report
