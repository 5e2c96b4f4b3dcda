"""Fixtures shared by the whole suite: free ports, the Kafka download cache, one real broker per session.

The e2e tests run against the project's own broker (``pricestream.localkafka``), started once per
test session on free loopback ports with its data in a temporary directory. The Kafka jars are
downloaded once into a cache that outlives the session: ``$PRICESTREAM_TEST_CACHE``, by default
``~/.pricestream`` (the product's own default home, so a developer's cache is reused).
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from pricestream.localkafka import LocalBroker, LocalKafkaError, ensure_distribution
from pricestream.settings import Settings

# The developers' own broker runs on the default port; tests never touch it.
_RESERVED_PORTS = range(19090, 19100)


def free_port() -> int:
    """A free loopback port whose successor is free too (a broker and its KRaft controller).

    Picked at random below the kernel's ephemeral range (32768+), so that neither an outgoing
    connection nor a parallel test session is likely to take it before the broker binds it.
    """
    for _ in range(200):
        port = random.randrange(20000, 32000)
        if port in _RESERVED_PORTS or port + 1 in _RESERVED_PORTS:
            continue
        if _bindable(port) and _bindable(port + 1):
            return port
    raise RuntimeError("no two consecutive free loopback ports found")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def broker_settings(home: Path, port: int, **changes) -> Settings:
    """Default settings (the environment is ignored) for a local broker on ``port`` with ``home``."""
    return Settings.from_env({}).replace(
        home=home, kafka_port=port, bootstrap_servers=f"127.0.0.1:{port}", partitions=4, **changes)


def link_dist_cache(home: Path, cache: Path) -> None:
    """Make ``home`` use the shared download cache: ``home/kafka-dist`` -> ``cache/kafka-dist``."""
    home.mkdir(parents=True, exist_ok=True)
    (cache / "kafka-dist").mkdir(parents=True, exist_ok=True)
    link = home / "kafka-dist"
    if not link.exists():
        link.symlink_to(cache / "kafka-dist", target_is_directory=True)


@pytest.fixture
def unused_kafka_port() -> int:
    """A port for a test's own broker (and the next one for its controller)."""
    return free_port()


@pytest.fixture(scope="session")
def kafka_dist_home() -> Path:
    """The home whose ``kafka-dist`` holds the Kafka jars; fetched from Maven Central at most once."""
    cache = Path(os.environ.get("PRICESTREAM_TEST_CACHE", Path.home() / ".pricestream")).expanduser()
    try:
        ensure_distribution(Settings.from_env({}).replace(home=cache), progress=print)
    except LocalKafkaError as exc:
        pytest.fail(f"cannot get Apache Kafka for the e2e tests: {exc}", pytrace=False)
    return cache


@pytest.fixture
def own_broker(kafka_dist_home: Path, tmp_path: Path) -> LocalBroker:
    """A broker of the test's own (not started) on free ports, home in tmp_path; wiped afterwards.

    For tests that stop or restart a broker: the session's ``kafka_broker`` must keep running.
    """
    home = tmp_path / "home"
    link_dist_cache(home, kafka_dist_home)
    broker = LocalBroker(broker_settings(home, free_port()))
    try:
        yield broker
    finally:
        broker.wipe()


@dataclass(frozen=True)
class KafkaTestBroker:
    settings: Settings      # bootstrap_servers points at the broker; partitions=4; home is a temp dir
    broker: LocalBroker


@pytest.fixture(scope="session")
def kafka_broker(kafka_dist_home: Path, tmp_path_factory: pytest.TempPathFactory) -> KafkaTestBroker:
    """One real Kafka broker for the whole session. Tests isolate themselves with their own
    ``topic_prefix`` and ``app_id`` (``settings.replace(...)``), never by stopping it."""
    home = tmp_path_factory.mktemp("pricestream-home")
    link_dist_cache(home, kafka_dist_home)
    settings = broker_settings(home, free_port())
    broker = LocalBroker(settings)
    try:
        broker.start(timeout_s=120, progress=print)
    except LocalKafkaError as exc:
        broker.stop()
        pytest.fail(f"cannot start the test broker: {exc}", pytrace=False)
    try:
        yield KafkaTestBroker(settings=settings, broker=broker)
    finally:
        broker.stop()
