"""The local broker's logic that needs no Kafka: configuration, pid files, errors (with a fake ``java``)."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pricestream.localkafka import LocalBroker, LocalKafkaError, ensure_distribution, new_cluster_id
from pricestream.localkafka import broker as broker_module
from pricestream.localkafka.broker import render_server_properties
from pricestream.settings import Settings
from pricestream.topics_admin import TopicAdminError, ensure_topics

VERSION = "4.1.2"


def make_settings(home: Path, port: int = 29192, **changes) -> Settings:
    return Settings.from_env({}).replace(home=home, kafka_port=port, kafka_version=VERSION,
                                         bootstrap_servers=f"127.0.0.1:{port}", **changes)


def parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def fake_dist(home: Path) -> Path:
    """A Kafka 'download' that ensure_distribution accepts as complete."""
    lib = home / "kafka-dist" / VERSION / "lib"
    lib.mkdir(parents=True)
    (lib / f"kafka_2.13-{VERSION}.jar").write_bytes(b"")
    return lib


def hide_tools(monkeypatch, *names: str) -> None:
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: None if cmd in names else real_which(cmd, *a, **k))


# ------------------------------------------------------------------------------ configuration


def test_server_properties_single_node_kraft_on_loopback(tmp_path):
    props = parse_properties(render_server_properties(29192, tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29193"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29192,CONTROLLER://127.0.0.1:29193"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29192"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["auto.create.topics.enable"] == "false"


def test_server_properties_fit_transactions_on_one_node(tmp_path):
    """With the defaults (replication 3, min ISR 2) exactly_once never starts on one broker."""
    props = parse_properties(render_server_properties(29192, tmp_path))
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["message.max.bytes"]) > 1024 * 1024


def test_broker_paths_and_address(tmp_path):
    broker = LocalBroker(make_settings(tmp_path, port=29192))
    assert broker.data_dir == tmp_path / "kafka" / "29192"
    assert broker.bootstrap_servers == "127.0.0.1:29192"
    assert broker.status().log_path == tmp_path / "kafka" / "29192" / "logs" / "server.log"
    assert LocalBroker(make_settings(tmp_path), data_dir=tmp_path / "elsewhere").data_dir == tmp_path / "elsewhere"


def test_cluster_id_is_a_kafka_uuid():
    for _ in range(50):
        cluster_id = new_cluster_id()
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_log4j_binding_matches_the_jars(tmp_path):
    for name in ("slf4j-api-1.7.36.jar", "log4j-core-2.25.3.jar", "log4j-api-2.25.3.jar"):
        (tmp_path / name).write_bytes(b"")
    assert broker_module._log4j_binding(tmp_path) == "org.apache.logging.log4j:log4j-slf4j-impl:2.25.3"
    (tmp_path / "slf4j-api-1.7.36.jar").rename(tmp_path / "slf4j-api-2.0.17.jar")
    assert broker_module._log4j_binding(tmp_path) == "org.apache.logging.log4j:log4j-slf4j2-impl:2.25.3"


def test_pom_template_names_the_version():
    pom = broker_module.render_pom("9.9.9")
    assert "<artifactId>kafka_2.13</artifactId>" in pom and "<version>9.9.9</version>" in pom
    assert "@KAFKA_VERSION@" not in pom


# ---------------------------------------------------------------------------------- pid files


def test_no_pid_file_is_not_running(tmp_path):
    status = LocalBroker(make_settings(tmp_path)).status()
    assert not status.running and status.pid is None


def test_pid_of_a_finished_process_is_stale(tmp_path):
    broker = LocalBroker(make_settings(tmp_path))
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    broker.data_dir.mkdir(parents=True)
    broker.pid_path.write_text(done.stdout)
    assert not broker.status().running
    broker.stop()  # fine, and removes the stale file
    assert not broker.pid_path.exists()


@pytest.mark.parametrize("content", ["", "not a pid\n", "0\n"])
def test_garbage_pid_file_is_not_running(tmp_path, content):
    broker = LocalBroker(make_settings(tmp_path))
    broker.data_dir.mkdir(parents=True)
    broker.pid_path.write_text(content)
    assert not broker.status().running


def test_pid_reused_by_another_program_is_stale(tmp_path):
    """A live pid whose command line is not our broker's (here: this very test process)."""
    broker = LocalBroker(make_settings(tmp_path))
    broker.data_dir.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        broker.pid_path.write_text(f"{other.pid}\n")
        assert not broker.status().running
        broker.stop()
        assert other.poll() is None, "stop() must not signal a process that is not our broker"
    finally:
        other.kill()
        other.wait()


def test_another_brokers_pid_is_not_ours(tmp_path):
    """A Kafka broker of another data directory is not this one."""
    a = LocalBroker(make_settings(tmp_path), data_dir=tmp_path / "a")
    b = LocalBroker(make_settings(tmp_path), data_dir=tmp_path / "b")
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "kafka.Kafka", str(a.properties_path)])
    try:
        for broker in (a, b):
            broker.data_dir.mkdir(parents=True)
            broker.pid_path.write_text(f"{fake.pid}\n")
        assert a.status().running and a.status().pid == fake.pid
        assert not b.status().running
        a.stop(timeout_s=10)
        assert fake.wait(timeout=10) is not None
        assert not a.status().running and not a.pid_path.exists()
    finally:
        fake.kill()
        fake.wait()


# ------------------------------------------------------------------------------------- errors


def test_java_missing_is_a_clear_error(tmp_path, monkeypatch, unused_kafka_port):
    hide_tools(monkeypatch, "java")
    with pytest.raises(LocalKafkaError, match="openjdk-17-jre-headless"):
        LocalBroker(make_settings(tmp_path, port=unused_kafka_port)).start(progress=lambda _: None)


def test_java_missing_for_the_download_too(tmp_path, monkeypatch):
    hide_tools(monkeypatch, "java")
    with pytest.raises(LocalKafkaError, match="Java"):
        ensure_distribution(make_settings(tmp_path), progress=lambda _: None)


def test_maven_missing_is_a_clear_error(tmp_path, monkeypatch):
    assert shutil.which("java"), "the project needs Java (make test checks it first) to get as far as Maven"
    hide_tools(monkeypatch, "mvn")
    with pytest.raises(LocalKafkaError, match="Maven"):
        ensure_distribution(make_settings(tmp_path), progress=lambda _: None)


def test_complete_download_is_not_fetched_again(tmp_path, monkeypatch):
    lib = fake_dist(tmp_path)
    hide_tools(monkeypatch, "java", "mvn")
    messages = []
    assert ensure_distribution(make_settings(tmp_path), progress=messages.append) == lib
    assert messages == []


def test_interrupted_download_is_not_mistaken_for_complete(tmp_path, monkeypatch):
    lib = tmp_path / "kafka-dist" / VERSION / "lib"
    lib.mkdir(parents=True)
    (lib / "kafka-clients-4.1.2.jar").write_bytes(b"")  # but no kafka_2.13 jar
    hide_tools(monkeypatch, "java", "mvn")
    with pytest.raises(LocalKafkaError):
        ensure_distribution(make_settings(tmp_path), progress=lambda _: None)


def test_port_used_by_another_program(tmp_path, unused_kafka_port):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", unused_kafka_port))
        listener.listen()
        with pytest.raises(LocalKafkaError, match=f"port {unused_kafka_port} .* already used"):
            LocalBroker(make_settings(tmp_path, port=unused_kafka_port)).start(progress=lambda _: None)


FAKE_JAVA = """\
#!{python}
# A stand-in for java: answers -version, "formats", and as kafka.Kafka logs {mode}.
import os, sys, time
args = sys.argv[1:]
if "-version" in args:
    print('openjdk version "17.0.2" 2022-01-18', file=sys.stderr)
    sys.exit(0)
if "kafka.tools.StorageTool" in args:
    if os.environ.get("FAKE_JAVA_CALLS"):
        with open(os.environ["FAKE_JAVA_CALLS"], "a") as calls:
            print(" ".join(args[args.index("kafka.tools.StorageTool") + 1:]), file=calls)
    sys.exit(0)
logs = next(a.split("=", 1)[1] for a in args if a.startswith("-Dkafka.logs.dir="))
with open(os.path.join(logs, "server.log"), "a") as log:
    for i in range(30):
        print(f"fake broker line {{i}}", file=log)
if "{mode}" == "crash":
    print("Exception in thread main: fake crash", flush=True)
    sys.exit(1)
time.sleep(60)
"""


def install_fake_java(tmp_path, monkeypatch, mode: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text(FAKE_JAVA.format(python=sys.executable, mode=mode))
    java.chmod(0o755)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: str(java) if cmd == "java" else real_which(cmd, *a, **k))


def test_broker_that_never_answers_times_out_with_its_log(tmp_path, monkeypatch, unused_kafka_port):
    install_fake_java(tmp_path, monkeypatch, "hang")
    fake_dist(tmp_path)
    broker = LocalBroker(make_settings(tmp_path, port=unused_kafka_port))
    started = time.monotonic()
    with pytest.raises(LocalKafkaError) as error:
        broker.start(timeout_s=2, progress=lambda _: None)
    assert time.monotonic() - started < 15
    message = str(error.value)
    assert "did not answer" in message and f"127.0.0.1:{unused_kafka_port}" in message
    assert "fake broker line 29" in message and "fake broker line 10" in message
    assert "fake broker line 9\n" not in message  # the last 20 lines, not the whole log
    assert not broker.status().running, "a broker that timed out is stopped"
    assert (broker.data_dir / "cluster.id").exists()


def test_broker_that_crashes_reports_its_output(tmp_path, monkeypatch, unused_kafka_port):
    install_fake_java(tmp_path, monkeypatch, "crash")
    fake_dist(tmp_path)
    broker = LocalBroker(make_settings(tmp_path, port=unused_kafka_port))
    with pytest.raises(LocalKafkaError, match="(?s)exited during start-up.*fake crash"):
        broker.start(timeout_s=20, progress=lambda _: None)
    assert not broker.pid_path.exists()


def test_storage_is_formatted_once(tmp_path, monkeypatch):
    """The first start formats with a new cluster id; later starts keep the data (and its topics)."""
    install_fake_java(tmp_path, monkeypatch, "hang")
    calls = tmp_path / "storage-tool-calls"
    monkeypatch.setenv("FAKE_JAVA_CALLS", str(calls))
    broker = LocalBroker(make_settings(tmp_path))
    broker._write_config()
    broker._format(shutil.which("java"), fake_dist(tmp_path))
    cluster_id = broker.cluster_id_path.read_text().strip()
    assert calls.read_text().split() == ["format", "--ignore-formatted", "-t", cluster_id, "-c",
                                         str(broker.properties_path)]
    (broker.kafka_data / "meta.properties").write_text(f"cluster.id={cluster_id}\n")
    calls.unlink()
    broker._format(shutil.which("java"), tmp_path / "kafka-dist" / VERSION / "lib")
    assert not calls.exists()


def test_old_java_is_refused(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        print('openjdk version "1.8.0_392"', file=sys.stderr)
        """))
    java.chmod(0o755)
    with pytest.raises(LocalKafkaError, match="Java 8"):
        broker_module._check_java_version(str(java))


# ------------------------------------------------------------------------------- topics admin


def test_ensure_topics_without_a_broker_is_a_clear_error(tmp_path, unused_kafka_port):
    started = time.monotonic()
    with pytest.raises(TopicAdminError, match=f"127.0.0.1:{unused_kafka_port} did not answer within 2 s"):
        ensure_topics(make_settings(tmp_path, port=unused_kafka_port), timeout_s=2)
    assert time.monotonic() - started < 10
