"""SASL/SCRAM over TLS end to end: the local broker in secure mode, every client with credentials.

The broker of this module has only a SASL_SSL listener (its KRaft controller aside), so anything that
works here went through TLS and a SCRAM login: the worker (Faust and its own aiokafka consumer), the
lockstep producer and the test's reader (kafka-python), ``pricestream tail`` and ``pricestream dashboard``. (Not kcat: Debian's
librdkafka 2.0 predates the SCRAM nonce fix Kafka 4 needs, librdkafka 2.6.1.) Wrong credentials must stop a command in seconds with a clear reason, and no password
may appear in any output.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest

from pricestream.localkafka import LocalBroker, LocalKafkaError
from pricestream.settings import Settings
from schemas import examples as ex
from schemas.codec import encode
from tests.conftest import broker_settings, free_port, link_dist_cache
from tests.e2e.harness import Outputs, Producer, isolated_settings, offline_replay, start_worker

pytestmark = pytest.mark.e2e

USER = "shop-engine"
SKU = "SEC-A"
# a hang would be a failure, not a slow pass: generous for a loaded 2-core machine, far below a retry loop's
REFUSAL_DEADLINE_S = 60


def by_id(events):
    return sorted(events, key=lambda e: e["event_id"])


@pytest.fixture(scope="module")
def secure_broker(kafka_dist_home, tmp_path_factory) -> LocalBroker:
    home = tmp_path_factory.mktemp("secure-home")
    link_dist_cache(home, kafka_dist_home)
    settings = broker_settings(home, free_port(), security_protocol="SASL_SSL", sasl_username=USER,
                               sasl_password=secrets.token_urlsafe(16))
    broker = LocalBroker(settings)
    try:
        broker.start(timeout_s=180, progress=print)
    except LocalKafkaError as exc:
        broker.stop()
        pytest.fail(f"cannot start the secure test broker: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.wipe()


@pytest.fixture
def client_settings(secure_broker) -> Settings:
    """Isolated settings for this test, on the secure broker, with the right credentials and its CA."""
    return isolated_settings(secure_broker.client_settings(secure_broker.settings),
                             pricing_policy="static", restock_policy="fixed-reorder")


def run_cli(settings: Settings, *args: str, timeout_s: float = REFUSAL_DEADLINE_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pricestream.cli", *args], env={**os.environ, **settings.to_env()},
                          capture_output=True, text=True, timeout=timeout_s)


def test_the_broker_listens_only_with_tls_and_scram(secure_broker):
    status = secure_broker.status()
    assert status.running and status.ca_file is not None and status.ca_file.exists()
    props = secure_broker.properties_path.read_text()
    assert f"listeners=SASL_SSL://127.0.0.1:{secure_broker.port},CONTROLLER://" in props
    assert "PLAINTEXT://" not in props.replace("CONTROLLER:PLAINTEXT", "")
    assert secure_broker.settings.sasl_password.reveal() not in props, "the client's password is in no file"
    assert oct(secure_broker.properties_path.stat().st_mode & 0o777) == "0o600"


def test_worker_and_tail_work_over_sasl_ssl(client_settings, tmp_path):
    settings = client_settings
    password = settings.sasl_password.reveal()
    worker = start_worker(settings, tmp_path)
    producer, outputs = Producer(settings), Outputs(settings)
    try:
        producer.send_record(ex.catalog_entry(sku=SKU, event_id="cat-sec", list_price=20.0, unit_cost=10.0,
                                              reorder_point=5, order_up_to=20))
        producer.send_record(ex.inventory(sku=SKU, t=10, kind="count", quantity=2))
        producer.tick(100)
        # exactly what the domain code decides offline on the same messages: a price, a restock, a forecast
        expected = [json.loads(encode(o)) for o in offline_replay(settings, producer.sent)]
        seen = outputs.wait_for(lambda s: sum(len(v) for v in s.values()) >= len(expected), worker=worker)
        assert by_id(e for events in seen.values() for e in events) == by_id(expected)
        assert [e["new_price"] for e in seen["price-changes"]] == [20.0]      # static: the list price
        assert [e["quantity"] for e in seen["restock-orders"]] == [18]        # up to 20 from a position of 2

        tail = run_cli(settings, "tail", "price-changes", "--json")
        assert tail.returncode == 0, tail.stderr
        assert [json.loads(line)["event_id"] for line in tail.stdout.splitlines()] == \
            [e["event_id"] for e in seen["price-changes"]]

        status = worker.status()
        assert password not in json.dumps(status)
        assert password not in repr(settings) and "Secret('***')" in repr(settings)

        dashboard_log = dashboard_shows_the_price(settings, worker, tmp_path, expected=20.0)
        assert password not in dashboard_log, "the dashboard logged the password"
    finally:
        producer.close()
        outputs.close()
        worker.stop()
    assert password not in worker.log(), "the worker logged the password"


def dashboard_shows_the_price(settings: Settings, worker, tmp_path, expected: float) -> str:
    """``pricestream dashboard`` over SASL_SSL: it reads the topics and shows the SKU's price; returns its log."""
    port, log_path = free_port(), tmp_path / "dashboard.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pricestream.cli", "dashboard", "--port", str(port),
             "--worker-url", f"http://127.0.0.1:{worker.settings.web_port}"],
            env={**os.environ, **settings.to_env()}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, detail = time.monotonic() + REFUSAL_DEADLINE_S, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sku/{SKU}", timeout=5) as response:
                    detail = json.load(response)
                if detail.get("price") == expected:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        assert detail is not None and detail.get("price") == expected, (detail, log_path.read_text())
    finally:
        process.terminate()
        process.wait(timeout=20)
    return log_path.read_text()


@pytest.mark.parametrize("command", [("worker",), ("tail", "price-changes"), ("topics", "create")])
def test_a_wrong_password_is_refused_at_once_and_never_shown(client_settings, command):
    wrong = "wrong-" + secrets.token_urlsafe(8)
    right = client_settings.sasl_password.reveal()
    run = run_cli(client_settings.replace(sasl_password=wrong), *command)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert f"SASL authentication failed for user {USER!r}" in output, output
    assert "KAFKA_SASL_PASSWORD" in output, "it says what to check"
    assert wrong not in output and right not in output


def test_an_unknown_user_is_refused_like_a_wrong_password(client_settings):
    run = run_cli(client_settings.replace(sasl_username="nobody"), "topics", "create")
    assert run.returncode == 1
    assert "SASL authentication failed for user 'nobody'" in run.stderr


def test_a_broker_certificate_from_an_unknown_ca_is_refused(client_settings):
    """Without the broker's CA (the system's CAs do not know it) the TLS handshake fails, and it says so."""
    run = run_cli(client_settings.replace(ssl_cafile=""), "topics", "create")
    assert run.returncode == 1
    assert "TLS certificate verification failed" in run.stderr and "KAFKA_SSL_CAFILE" in run.stderr


def test_the_password_can_come_from_a_file(client_settings, tmp_path):
    """As a mounted Kubernetes secret: KAFKA_SASL_PASSWORD_FILE instead of KAFKA_SASL_PASSWORD."""
    secret = tmp_path / "password"
    secret.write_text(client_settings.sasl_password.reveal() + "\n")
    env = {**client_settings.to_env(), "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(secret)}
    run = subprocess.run([sys.executable, "-m", "pricestream.cli", "topics", "create"],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=REFUSAL_DEADLINE_S)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("created: ") and "price-changes" in run.stdout
