"""The project's own Apache Kafka broker: one KRaft node on the loopback interface.

The jars of the Kafka release named by ``settings.kafka_version`` come from Maven Central (fetched
once with Maven into ``settings.home/kafka-dist/<version>/lib``); the broker runs as a detached
``java kafka.Kafka`` process whose data, logs and pid file live in one directory
(``settings.home/kafka/<port>`` by default). Clients reach it at ``127.0.0.1:<settings.kafka_port>``;
its KRaft controller listens on the next port.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

from pricestream.localkafka import secure
from pricestream.settings import Settings

Progress = Callable[[str], object]

JAVA_MIN_VERSION = 17
JAVA_HEAP = "-Xmx512m"
LOG_TAIL_LINES = 20
# Name of the main class in the command line: how a pid is recognised as a Kafka broker.
MAIN_CLASS = "kafka.Kafka"


class LocalKafkaError(RuntimeError):
    """The local broker cannot be fetched, started or reached; the message says what to do."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    data_dir: Path
    log_path: Path
    ca_file: Path | None = None         # secure mode: the CA clients verify the broker with (KAFKA_SSL_CAFILE)


# --------------------------------------------------------------------------------------- tools


def _require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError(
            "Java is not on PATH: the local Kafka broker needs it. "
            f"Install a Java {JAVA_MIN_VERSION}+ runtime, e.g. apt-get install openjdk-17-jre-headless"
        )
    return java


_checked_java: dict[str, int] = {}


def _check_java_version(java: str) -> None:
    """Kafka 4 brokers need Java 17+; say so instead of letting the JVM fail on class versions."""
    if java in _checked_java:
        return
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalKafkaError(f"could not run {java} -version: {exc}") from None
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:  # unknown vendor output: let the broker try
        _checked_java[java] = 0
        return
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" is Java 8
        major = int(match.group(2))
    if major < JAVA_MIN_VERSION:
        raise LocalKafkaError(
            f"{java} is Java {major}; the local Kafka broker needs Java {JAVA_MIN_VERSION}+. "
            "Install a Java 17+ runtime, e.g. apt-get install openjdk-17-jre-headless, and put it first on PATH"
        )
    _checked_java[java] = major


def _require_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            "Maven (mvn) is not on PATH: it fetches Apache Kafka from Maven Central for the local broker. "
            "Install Maven 3.6+, e.g. apt-get install maven"
        )
    return mvn


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so two processes never fetch or start the same thing at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


# -------------------------------------------------------------------------------- distribution


def distribution_dir(settings: Settings) -> Path:
    return settings.home / "kafka-dist" / settings.kafka_version


def distribution_lib(settings: Settings) -> Path:
    return distribution_dir(settings) / "lib"


def _is_complete(lib: Path, version: str) -> bool:
    return lib.is_dir() and any(lib.glob(f"kafka_2.13-{version}.jar"))


def render_pom(kafka_version: str) -> str:
    template = resources.files("pricestream.localkafka").joinpath("pom.xml").read_text(encoding="utf-8")
    return template.replace("@KAFKA_VERSION@", kafka_version)


def ensure_distribution(settings: Settings, progress: Progress = print) -> Path:
    """The ``lib`` directory of Kafka ``settings.kafka_version``; fetched from Maven Central once.

    The jars are copied into a temporary directory next to the final one, which is renamed into
    place only when complete: an interrupted fetch leaves no ``lib`` that looks usable.
    """
    version = settings.kafka_version
    final = distribution_dir(settings)
    lib = final / "lib"
    if _is_complete(lib, version):
        return lib
    with _file_lock(final.parent / f".{version}.lock"):
        if _is_complete(lib, version):  # another process fetched it while we waited
            return lib
        java = _require_java()
        mvn = _require_maven()
        _check_java_version(java)
        for leftover in final.parent.glob(f".{version}.fetch-*"):  # from a fetch that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        progress(f"fetching Apache Kafka {version} from Maven Central ...")
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".{version}.fetch-", dir=final.parent))
        try:
            pom = work / "pom.xml"
            pom.write_text(render_pom(version), encoding="utf-8")
            tmp_lib = work / "lib"
            _mvn(mvn, pom, "dependency:copy-dependencies",
                 f"-DoutputDirectory={tmp_lib}", "-DincludeScope=runtime")
            if not _is_complete(tmp_lib, version):
                raise LocalKafkaError(f"Maven finished but {tmp_lib} has no kafka_2.13-{version}.jar")
            binding = _log4j_binding(tmp_lib)
            if binding is not None:
                _mvn(mvn, pom, "dependency:copy", f"-Dartifact={binding}", f"-DoutputDirectory={tmp_lib}")
            os.chmod(work, 0o755)  # mkdtemp made it private
            if final.exists():  # a leftover without a complete lib
                shutil.rmtree(final)
            os.rename(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    jars = len(list(lib.glob("*.jar")))
    progress(f"fetched Apache Kafka {version}: {jars} jars in {lib} ({time.monotonic() - started:.0f} s)")
    return lib


def _log4j_binding(lib: Path) -> str | None:
    """Maven coordinates of the slf4j -> log4j2 binding that matches the jars Kafka pulled.

    Kafka depends on slf4j-api and log4j-core but not on the binding between them; without one,
    slf4j falls back to its no-op logger and the broker logs nothing.
    """
    def version_of(prefix: str) -> str | None:
        for jar in lib.glob(f"{prefix}-*.jar"):
            match = re.fullmatch(re.escape(prefix) + r"-(\d[\w.\-]*)\.jar", jar.name)
            if match:
                return match.group(1)
        return None

    log4j = version_of("log4j-core")
    slf4j = version_of("slf4j-api")
    if log4j is None or slf4j is None:
        return None
    artifact = "log4j-slf4j2-impl" if slf4j.split(".")[0] != "1" else "log4j-slf4j-impl"
    if any(lib.glob(f"{artifact}-*.jar")):
        return None
    return f"org.apache.logging.log4j:{artifact}:{log4j}"


def _mvn(mvn: str, pom: Path, *args: str) -> None:
    cmd = [mvn, "-q", "-B", "-f", str(pom), *args]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        raise LocalKafkaError(f"Maven did not finish within 15 minutes: {' '.join(cmd)}") from None
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
        raise LocalKafkaError(
            f"Maven could not fetch Apache Kafka from Maven Central (exit {result.returncode}): "
            f"{' '.join(cmd)}\n{output}"
        )


# ------------------------------------------------------------------------------------- broker


def render_server_properties(port: int, log_dir: Path, overrides: dict[str, str] | None = None) -> str:
    """server.properties of a single-node KRaft broker+controller on 127.0.0.1:port (controller: port+1).

    A single node can only hold one replica, so every internal topic (consumer offsets, transaction
    state) gets replication factor 1 and min ISR 1, or transactions (exactly_once) never start.
    """
    controller = port + 1
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "message.max.bytes": "1048588",
    }
    props.update(overrides or {})       # secure mode's listener, TLS and SASL
    lines = ["# Written by pricestream.localkafka; rewritten at every start."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as StorageTool random-uuid).

    >>> len(new_cluster_id())
    22
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):  # Kafka never hands out ids that look like command-line options
            return text


def _port_open(port: int, timeout_s: float = 0.5) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _cmdline(pid: int) -> str | None:
    """The command line of a live process, or None if there is none (zombies count as gone)."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():
        for _ in range(20):
            try:
                raw = proc.read_bytes()
                if raw:
                    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
                # Empty: a zombie, or a process in the middle of exec() (its new arguments are not set yet).
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                return None
            if state in ("Z", "X"):
                return None
            time.sleep(0.01)
        return None
    try:  # no /proc (macOS): ask ps
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


class LocalBroker:
    """One single-node KRaft broker on ``127.0.0.1:settings.kafka_port`` with its files in ``data_dir``."""

    def __init__(self, settings: Settings, data_dir: Path | None = None):
        self.settings = settings
        self.port = settings.kafka_port
        self.controller_port = settings.kafka_port + 1
        data_dir = Path(data_dir) if data_dir is not None else settings.home / "kafka" / str(self.port)
        self.data_dir = data_dir.expanduser().absolute()  # absolute: the pid check matches it in the command line
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._child: subprocess.Popen | None = None

    # ---- files

    @property
    def properties_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log4j_path(self) -> Path:
        return self.data_dir / "log4j2.properties"

    @property
    def kafka_data(self) -> Path:
        return self.data_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def log_path(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def console_path(self) -> Path:
        """The JVM's own stdout and stderr (crashes before logging starts end up here)."""
        return self.logs_dir / "console.out"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def cluster_id_path(self) -> Path:
        return self.data_dir / "cluster.id"

    # ---- state

    def _pid(self) -> int | None:
        """The pid of our broker if its process is alive, else None (stale pid files are ignored)."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        if self._child is not None and self._child.pid == pid:
            self._child.poll()  # reap our own child once it exits, so it does not linger as a zombie
        cmdline = _cmdline(pid)
        if cmdline is None or MAIN_CLASS not in cmdline.split() or str(self.properties_path) not in cmdline:
            return None
        return pid

    def status(self) -> BrokerStatus:
        pid = self._pid()
        return BrokerStatus(running=pid is not None, pid=pid, bootstrap_servers=self.bootstrap_servers,
                            data_dir=self.data_dir, log_path=self.log_path,
                            ca_file=self.tls.ca_pem if self.secure else None)

    # ---- secure mode (KAFKA_SECURITY_PROTOCOL=SASL_SSL; pricestream/localkafka/secure.py)

    @property
    def secure(self) -> bool:
        return self.settings.uses_sasl

    @property
    def tls(self) -> secure.BrokerTls:
        return secure.BrokerTls(self.data_dir / "tls")

    def client_settings(self, settings: Settings) -> Settings:
        """``settings`` pointed at this broker: its bootstrap servers and, in secure mode, its CA."""
        if not self.secure:
            return settings.replace(bootstrap_servers=self.bootstrap_servers)
        return settings.replace(bootstrap_servers=self.bootstrap_servers, ssl_cafile=str(self.tls.ca_pem))

    def _admin_connection(self) -> dict:
        if not self.secure:
            return {"bootstrap_servers": self.bootstrap_servers}
        return secure.broker_connection(self.tls, self.bootstrap_servers)

    def _prepare_secure(self, java: str) -> None:
        formatted = (self.kafka_data / "meta.properties").exists()
        if formatted and not self.tls.broker_password_path.exists():
            raise LocalKafkaError(
                f"the broker's storage in {self.kafka_data} was formatted without SASL (the broker's own SCRAM "
                f"user is created only then): wipe it (python -m pricestream.localkafka.broker wipe) or use "
                f"another PRICESTREAM_KAFKA_PORT or PRICESTREAM_HOME for the secure broker")
        if not formatted:
            self.tls.new_broker_password()
        try:
            secure.ensure_tls(self.tls, java)
        except secure.SecureSetupError as exc:
            raise LocalKafkaError(f"cannot make the broker's TLS certificate in {self.tls.directory}: {exc}") from None

    def _ensure_client_user(self) -> None:
        try:
            secure.upsert_client_user(self.tls, self.bootstrap_servers, self.settings)
        except Exception as exc:  # noqa: BLE001 - any failure here means the clients cannot log in
            raise LocalKafkaError(f"the secure broker is up but the SCRAM user {self.settings.sasl_username!r} "
                                  f"could not be set: {type(exc).__name__}: {exc}") from None

    def answers(self, timeout_s: float = 5.0) -> bool:
        """True if the broker accepts connections and serves metadata."""
        if not _port_open(self.port):
            return False
        from kafka.admin import KafkaAdminClient

        admin = None
        try:
            admin = KafkaAdminClient(**self._admin_connection(), client_id="pricestream-localkafka",
                                     bootstrap_timeout_ms=int(timeout_s * 1000),
                                     request_timeout_ms=int(timeout_s * 1000))
            admin.list_topics()
            return True
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    admin.close()

    # ---- start / stop

    def start(self, timeout_s: float = 120, progress: Progress = print) -> BrokerStatus:
        """Start the broker (fetching Kafka and formatting storage first if needed); idempotent."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.data_dir / ".lock"):
            deadline = time.monotonic() + timeout_s
            pid = self._pid()
            if pid is not None:  # ours, already running (or still starting): wait for it to answer
                self._wait_ready(pid, deadline, timeout_s)
                if self.secure:
                    self._ensure_client_user()
                return self.status()
            self.pid_path.unlink(missing_ok=True)
            for port in (self.port, self.controller_port):
                if _port_open(port):
                    raise LocalKafkaError(
                        f"port {port} on 127.0.0.1 is already used by another program, not by the broker "
                        f"of {self.data_dir}; stop it (see `ss -ltnp 'sport = :{port}'`) or choose another "
                        f"port with PRICESTREAM_KAFKA_PORT (the broker uses that port and the next one)"
                    )
            java = _require_java()
            _check_java_version(java)
            lib = ensure_distribution(self.settings, progress=progress)
            if self.secure:
                self._prepare_secure(java)
            self._write_config()
            self._format(java, lib)
            progress(f"starting Apache Kafka {self.settings.kafka_version} on {self.bootstrap_servers} "
                     f"(data and logs in {self.data_dir})")
            pid = self._spawn(java, lib)
            self._wait_ready(pid, deadline, timeout_s)
            if self.secure:
                self._ensure_client_user()
            progress(f"Apache Kafka is up on {self.bootstrap_servers} (pid {pid})")
            return self.status()

    def _jvm_args(self, lib: Path) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-Djava.awt.headless=true",
            "-cp", str(lib / "*"),
        ]

    def _write_config(self) -> None:
        self.kafka_data.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        overrides = secure.server_properties(self.tls, self.port) if self.secure else None
        self.properties_path.write_text(render_server_properties(self.port, self.kafka_data, overrides),
                                        encoding="utf-8")
        if self.secure:     # it holds the keystore and the broker's own passwords
            os.chmod(self.properties_path, 0o600)
        log4j = resources.files("pricestream.localkafka").joinpath("log4j2.properties").read_text(encoding="utf-8")
        self.log4j_path.write_text(log4j, encoding="utf-8")

    def _format(self, java: str, lib: Path) -> None:
        """Format the KRaft storage once; a formatted data dir keeps its cluster id and its topics."""
        if (self.kafka_data / "meta.properties").exists():
            return
        if self.cluster_id_path.exists():
            cluster_id = self.cluster_id_path.read_text().strip()
        else:
            cluster_id = new_cluster_id()
            self.cluster_id_path.write_text(cluster_id + "\n")
        cmd = [java, *self._jvm_args(lib), "kafka.tools.StorageTool", "format", "--ignore-formatted",
               "-t", cluster_id, "-c", str(self.properties_path),
               *(secure.format_arguments(self.tls) if self.secure else [])]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
            raise LocalKafkaError(f"formatting the Kafka storage in {self.kafka_data} failed "
                                  f"(exit {result.returncode}):\n{output}")

    def _spawn(self, java: str, lib: Path) -> int:
        cmd = [java, JAVA_HEAP, *self._jvm_args(lib), MAIN_CLASS, str(self.properties_path)]
        with open(self.console_path, "wb") as console:  # this run only
            self._child = subprocess.Popen(
                cmd, cwd=self.data_dir, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        tmp = self.pid_path.with_suffix(".pid.tmp")
        tmp.write_text(f"{self._child.pid}\n")
        os.replace(tmp, self.pid_path)
        return self._child.pid

    def _wait_ready(self, pid: int, deadline: float, timeout_s: float) -> None:
        while True:
            if self._child is not None and self._child.pid == pid:
                alive = self._child.poll() is None
            else:
                alive = self._pid() == pid
            if not alive:
                self.pid_path.unlink(missing_ok=True)
                raise LocalKafkaError(
                    f"the Kafka broker (pid {pid}) exited during start-up; last lines of its log:\n"
                    + self._log_tails()
                )
            if self.answers(timeout_s=max(1.0, min(5.0, deadline - time.monotonic()))):
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise LocalKafkaError(
                    f"the Kafka broker did not answer on {self.bootstrap_servers} within {timeout_s:.0f} s "
                    f"and was stopped; last lines of {self.log_path}:\n" + self._log_tails()
                )
            time.sleep(0.25)

    def _log_tails(self) -> str:
        parts = []
        server = _tail(self.log_path)
        if server:
            parts.append(server)
        console = _tail(self.console_path)
        if console:
            parts.append(f"--- {self.console_path}:\n{console}")
        return "\n".join(parts) or "(the broker wrote no log)"

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker: SIGTERM (a clean shutdown), SIGKILL after ``timeout_s``. Fine if not running."""
        pid = self._pid()
        if pid is not None:
            self._signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self._pid() == pid and time.monotonic() < deadline:
                time.sleep(0.1)
            if self._pid() == pid:
                self._signal(pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while self._pid() == pid and time.monotonic() < deadline:
                    time.sleep(0.1)
        if self._child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.wait(timeout=1)
            self._child = None
        self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker's JVM: a crash, no clean shutdown (``pricestream crash-test --broker-restarts``)."""
        pid = self._pid()
        if pid is not None:
            self._signal(pid, signal.SIGKILL)
        self.stop(timeout_s=10)     # waits until it is gone and reaps it

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            raise LocalKafkaError(f"not allowed to signal the Kafka broker (pid {pid}): {exc}") from None

    def wipe(self) -> None:
        """Stop the broker and delete its data directory (topics, offsets, logs)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m pricestream.localkafka.broker start|stop|status`` with settings from the environment."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    broker = LocalBroker(Settings.from_env())
    try:
        if command == "start":
            broker.start()
        elif command == "stop":
            broker.stop()
        elif command == "wipe":
            broker.wipe()
        elif command != "status":
            print("usage: python -m pricestream.localkafka.broker start|stop|status|wipe", file=sys.stderr)
            return 2
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    status = broker.status()
    print(f"running={status.running} pid={status.pid} bootstrap={status.bootstrap_servers} log={status.log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
