"""How every Kafka client of the project connects: one place, so security settings apply to all.

kafka-python clients (simulator, tail, crash test, topic admin, bootstrap, dashboard, tests) take their
connection arguments from :func:`connection`, plain aiokafka ones (the benchmark's raw baseline) from
:func:`aiokafka_connection`; the worker's Faust app (``streams/app.py``) and its own aiokafka consumer
(``streams/faust_fixes.py``) take :func:`faust_credentials`. All use the same :func:`ssl_context`. With ``KAFKA_SECURITY_PROTOCOL=SASL_SSL`` that is SASL/SCRAM over TLS.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from kafka import KafkaConsumer, TopicPartition

from pricestream.settings import Settings, SettingsError
from schemas.topics import OUTPUT_TOPICS


class KafkaAuthError(RuntimeError):
    """The cluster refused the credentials or the TLS handshake; the message says which and what to check.

    Never retried: a wrong password stays wrong, and every retry is a failed login in the broker's log.
    """


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS that verifies the broker's certificate and host name, against ``KAFKA_SSL_CAFILE`` or the system's CAs."""
    try:
        return ssl.create_default_context(cafile=settings.ssl_cafile or None)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"KAFKA_SSL_CAFILE={settings.ssl_cafile!r}: not a readable PEM CA file "
                            f"({type(exc).__name__}: {exc})") from None


def connection(settings: Settings) -> dict:
    """The keyword arguments a kafka-python client needs to reach ``settings``' cluster."""
    args: dict = {"bootstrap_servers": settings.bootstrap_servers.split(",")}
    if settings.uses_sasl:
        args.update(security_protocol="SASL_SSL", ssl_context=ssl_context(settings),
                    sasl_mechanism=settings.sasl_mechanism, sasl_plain_username=settings.sasl_username,
                    sasl_plain_password=settings.sasl_password.reveal())
    return args


def aiokafka_connection(settings: Settings) -> dict:
    """The same for a plain aiokafka client (the benchmark's raw-client baseline)."""
    args: dict = {"bootstrap_servers": settings.bootstrap_servers}
    if settings.uses_sasl:
        args.update(security_protocol="SASL_SSL", ssl_context=ssl_context(settings),
                    sasl_mechanism=settings.sasl_mechanism, sasl_plain_username=settings.sasl_username,
                    sasl_plain_password=settings.sasl_password.reveal())
    return args


def faust_credentials(settings: Settings):
    """Faust's ``broker_credentials`` for ``settings`` (None for PLAINTEXT)."""
    if not settings.uses_sasl:
        return None
    import faust

    # Faust's SASLCredentials masks the password in its repr; an SSL context makes it SASL_SSL
    return faust.SASLCredentials(username=settings.sasl_username, password=settings.sasl_password.reveal(),
                                 mechanism=settings.sasl_mechanism, ssl_context=ssl_context(settings))


SASL_AUTHENTICATION_FAILED = 58     # Kafka's error code


def check_login(settings: Settings, timeout_s: float = 10.0) -> None:
    """With SASL_SSL, log in once (TLS and SCRAM) and raise :class:`KafkaAuthError` at once if refused.

    kafka-python retries a refused login like an unreachable broker until its bootstrap timeout, and
    the worker's aiokafka would go on failing to bootstrap: a wrong password must stop a command in
    seconds and say why. A broker that does not answer at all is not judged here: the callers' own
    retries wait for it.
    """
    if not settings.uses_sasl:
        return
    for server in settings.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        with ThreadPoolExecutor(max_workers=1) as pool:     # its own event loop, whatever runs in this thread
            failure = pool.submit(asyncio.run, _login_failure(settings, host, int(port), timeout_s)).result()
        if failure is not None:
            raise failure
        # a server that answered and accepted the login, or one that did not answer: either way, carry on


async def _login_failure(settings: Settings, host: str, port: int, timeout_s: float) -> KafkaAuthError | None:
    from aiokafka.conn import create_conn

    try:
        conn = await asyncio.wait_for(create_conn(
            host, port, client_id=f"{settings.app_id}-login-check", request_timeout_ms=int(timeout_s * 1000),
            security_protocol="SASL_SSL", ssl_context=ssl_context(settings), sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username, sasl_plain_password=settings.sasl_password.reveal()),
            timeout_s)
    except SettingsError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below; anything else means "not answering"
        return auth_failure(exc, settings)
    conn.close()
    return None


def auth_failure(exc: BaseException, settings: Settings) -> KafkaAuthError | None:
    """A clear :class:`KafkaAuthError` if ``exc`` (or its cause) is a refused login or TLS handshake, else None.

    The message names the user, the mechanism and the settings to check; never the password.
    """
    seen = exc
    while seen is not None:
        # kafka-python's and aiokafka's own classes: both carry Kafka's error code 58
        if getattr(seen, "errno", None) == SASL_AUTHENTICATION_FAILED:
            return KafkaAuthError(
                f"Kafka at {settings.bootstrap_servers} refused the login: SASL authentication failed for user "
                f"{settings.sasl_username!r} ({settings.sasl_mechanism}). Check KAFKA_SASL_USERNAME and "
                f"KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE).")
        if isinstance(seen, ssl.SSLCertVerificationError):
            return KafkaAuthError(
                f"Kafka at {settings.bootstrap_servers}: TLS certificate verification failed "
                f"({seen.verify_message}). Check KAFKA_SSL_CAFILE (the CA that signed the broker's certificate) "
                f"and that the bootstrap host is a name the certificate is for.")
        if isinstance(seen, ssl.SSLError):
            return KafkaAuthError(f"Kafka at {settings.bootstrap_servers}: TLS handshake failed ({seen.reason}). "
                                  f"Is the listener SASL_SSL (KAFKA_SECURITY_PROTOCOL)?")
        seen = seen.__cause__ or seen.__context__
    return None


def read_committed(settings: Settings, timeout_s: float = 60,
                   keep: Callable[[object], object] = lambda message: message.value,
                   topics: Iterable[str] = OUTPUT_TOPICS) -> dict[str, list]:
    """Every committed event of ``topics`` (contract names; by default the output topics), per topic,
    partition by partition in offset order: what ``keep`` takes of each message (its value by default)."""
    consumer = KafkaConsumer(**connection(settings), group_id=None,
                             isolation_level="read_committed", enable_auto_commit=False)
    try:
        tps = [TopicPartition(settings.topic(t), p) for t in topics for p in range(settings.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)        # read_committed: the last stable offsets
        out: dict[str, list] = {t: [] for t in topics}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {list(topics)} to their ends in {timeout_s} s")
            for tp, batch in consumer.poll(timeout_ms=200).items():
                out[tp.topic.removeprefix(settings.topic_prefix)] += [keep(m) for m in batch]
        return out
    finally:
        consumer.close()


def publish(settings: Settings, topic: str, messages: Iterable[tuple[bytes | None, bytes | None, int | None]],
            timeout_s: float = 30) -> int:
    """Write ``(key, value, partition)`` messages (partition None: the key's hash) to one of the engine's
    topics, created first if missing, and wait until every write is acknowledged; returns how many."""
    from kafka import KafkaProducer

    from pricestream.topics_admin import ensure_topics
    from schemas.topics import TOPICS_BY_NAME

    ensure_topics(settings, timeout_s, topics=[TOPICS_BY_NAME[topic]])
    producer = KafkaProducer(**connection(settings), acks="all", linger_ms=5)
    try:
        futures = [producer.send(settings.topic(topic), key=key, value=value, partition=partition)
                   for key, value, partition in messages]
        producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)
    finally:
        producer.close()
    return len(futures)
