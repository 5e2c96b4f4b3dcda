"""``pricestream worker`` as a child process: for the demo, ``simulate --kafka`` and the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pricestream.settings import Settings
from pricestream.topics_admin import ensure_topics


@dataclass
class WorkerProcess:
    settings: Settings
    process: subprocess.Popen
    log_path: Path

    def status(self) -> dict:
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/status/"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)

    def consumed_counts(self) -> dict[str, float]:
        """``pricestream_events_consumed_total`` by input topic, from the worker's /metrics."""
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        counts = {}
        for line in text.splitlines():
            if line.startswith("pricestream_events_consumed_total{"):
                labels, value = line.rsplit(" ", 1)
                counts[labels.split('topic="', 1)[1].split('"', 1)[0]] = float(value)
        return counts

    def rss_bytes(self, peak: bool = False) -> int:
        """Resident memory now (or its peak so far, ``peak``), from /proc (Linux)."""
        field = "VmHWM:" if peak else "VmRSS:"
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no {field} for pid {self.process.pid}")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the worker has used so far, from /proc (Linux)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        """Stop the worker (and anything it started); SIGKILL after ``timeout_s``."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_worker(settings: Settings, log_path: Path, timeout_s: float = 120) -> WorkerProcess:
    """Create the topics, start the worker, and return once it is ready: partitions assigned and
    state recovered (its status page says ``ready``)."""
    ensure_topics(settings)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:     # a restarted worker appends to the same log
        process = subprocess.Popen([sys.executable, "-m", "pricestream.cli", "worker"],
                                   env={**os.environ, **settings.to_env()}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(settings, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}; its log {log_path} ends:\n"
                               f"{worker.log()[-3000:]}")
        try:
            if worker.status().get("ready"):
                return worker
        except OSError:
            pass
        time.sleep(0.3)
    worker.stop()
    raise TimeoutError(f"the worker's status page did not answer in {timeout_s:.0f} s; see {log_path}")
