"""Create and inspect the engine's topics (``schemas.topics.TOPICS``) on a Kafka cluster.

Every topic gets ``settings.partitions`` partitions: the engine joins its input topics and state
tables by key, which only works when they are co-partitioned (same partition count, same
partitioner). An existing topic with another partition count is therefore an error, not something
to paper over.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterable, Iterator

import kafka.errors as kafka_errors
from kafka.admin import KafkaAdminClient

from pricestream.kafka_clients import check_login, connection
from pricestream.settings import Settings
from schemas.topics import TOPICS, TopicSpec

_UNKNOWN_TOPIC = kafka_errors.UnknownTopicOrPartitionError.errno
_ALREADY_EXISTS = kafka_errors.TopicAlreadyExistsError.errno


class TopicAdminError(RuntimeError):
    """The topics cannot be created or checked; the message says why."""


class PartitionMismatchError(TopicAdminError):
    """An existing topic's partition count differs from ``settings.partitions``."""


@contextlib.contextmanager
def admin_client(settings: Settings, timeout_s: float = 30) -> Iterator[KafkaAdminClient]:
    """A connected admin client; retries until ``timeout_s`` while the cluster does not answer."""
    check_login(settings, timeout_s=min(timeout_s, 10.0))      # a refused login is not retried: KafkaAuthError
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    admin = None
    while admin is None:
        remaining = deadline - time.monotonic()
        try:
            admin = KafkaAdminClient(
                **connection(settings),
                client_id=f"{settings.app_id}-topics-admin",
                bootstrap_timeout_ms=int(max(1.0, min(remaining, 10.0)) * 1000),
                request_timeout_ms=int(max(5.0, timeout_s) * 1000),
            )
        except (kafka_errors.KafkaError, OSError) as exc:
            last_error = exc
            if time.monotonic() + 0.5 >= deadline:
                raise TopicAdminError(
                    f"Kafka at {settings.bootstrap_servers} did not answer within {timeout_s:.0f} s "
                    f"({type(exc).__name__}: {exc}). Is the broker running? The project's own broker "
                    f"starts with pricestream.localkafka.LocalBroker(settings).start()."
                ) from last_error
            time.sleep(0.5)
    try:
        yield admin
    finally:
        with contextlib.suppress(Exception):
            admin.close()


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition counts of those of ``names`` that exist."""
    if not names:
        return {}
    counts = {}
    for topic in admin.describe_topics(names):
        code = topic.get("error_code", 0)
        if code == _UNKNOWN_TOPIC:
            continue
        if code != 0:
            error = kafka_errors.for_code(code)
            raise TopicAdminError(f"cannot describe topic {topic['name']!r}: {error.__name__}")
        counts[topic["name"]] = len(topic["partitions"])
    return counts


def _check_partitions(existing: dict[str, int], wanted: int) -> None:
    wrong = {name: count for name, count in existing.items() if count != wanted}
    if wrong:
        details = "; ".join(f"topic {name!r} has {count} partitions, settings want {wanted}"
                            for name, count in sorted(wrong.items()))
        raise PartitionMismatchError(
            f"{details}. The engine joins its topics by key, which needs every topic to have the same "
            f"partition count (co-partitioning). Set PRICESTREAM_PARTITIONS to the existing count, "
            f"or delete and recreate the topics."
        )


def describe_topics(settings: Settings, timeout_s: float = 30,
                    topics: Iterable[TopicSpec] = TOPICS) -> dict[str, int]:
    """``{topic name: partition count}`` for each of the engine's topics that exists.

    Names are the real Kafka names, with ``settings.topic_prefix``.
    """
    names = [settings.topic(t.name) for t in topics]
    with admin_client(settings, timeout_s) as admin:
        return _partition_counts(admin, names)


def ensure_topics(settings: Settings, timeout_s: float = 30,
                  topics: Iterable[TopicSpec] = TOPICS) -> list[str]:
    """Create the engine's topics that do not exist yet; return the names created (idempotent).

    Names are the real Kafka names: ``settings.topic(name)``, i.e. with ``settings.topic_prefix``.

    Each topic gets ``settings.partitions`` partitions, ``settings.replication_factor`` replicas
    and its ``config`` (e.g. catalog: ``cleanup.policy=compact``). Existing topics are checked,
    not changed: a different partition count raises :class:`PartitionMismatchError` before
    anything is created.
    """
    specs = {settings.topic(t.name): t for t in topics}
    names = list(specs)
    with admin_client(settings, timeout_s) as admin:
        existing = _partition_counts(admin, names)
        _check_partitions(existing, settings.partitions)
        missing = [name for name in names if name not in existing]
        if not missing:
            return []
        request = {
            name: {
                "num_partitions": settings.partitions,
                "replication_factor": settings.replication_factor,
                "configs": dict(specs[name].config),
            }
            for name in missing
        }
        response = admin.create_topics(request, timeout_ms=int(timeout_s * 1000), raise_errors=False)
        created, raced = [], []
        for result in response["topics"]:
            code = result["error_code"]
            if code == 0:
                created.append(result["name"])
            elif code == _ALREADY_EXISTS:  # created by someone else since we looked: check it too
                raced.append(result["name"])
            else:
                error = kafka_errors.for_code(code)
                message = result.get("error_message") or ""
                raise TopicAdminError(
                    f"cannot create topic {result['name']!r} ({settings.partitions} partitions, replication "
                    f"factor {settings.replication_factor}): {error.__name__} {message}".rstrip()
                )
        if raced:
            _check_partitions(_partition_counts(admin, raced), settings.partitions)
        if created:
            try:
                admin.wait_for_topics(created, timeout_ms=int(timeout_s * 1000))
            except kafka_errors.KafkaTimeoutError as exc:
                raise TopicAdminError(f"topics were created but have no leader yet: {exc}") from None
    return [name for name in names if name in created]


def reset_topics(settings: Settings, app_id: str | None = None, timeout_s: float = 30,
                 topics: Iterable[TopicSpec] = TOPICS) -> list[str]:
    """Delete the engine's topics and the app's own topics and consumer group; return the topics deleted.

    For a fresh start (the demo, tests): the contract topics (with ``settings.topic_prefix``), every
    topic named ``<app_id>-...`` (Faust's state changelogs and its assignor topic) and the consumer
    group ``app_id`` (default ``settings.app_id``). Waits until the topics are really gone, so that
    :func:`ensure_topics` can create them again right away. Never run it against a shared cluster.
    """
    app_id = settings.app_id if app_id is None else app_id
    deadline = time.monotonic() + timeout_s
    with admin_client(settings, timeout_s) as admin:
        contract = {settings.topic(t.name) for t in topics}
        present = admin.list_topics()
        doomed = sorted(name for name in present if name in contract or name.startswith(f"{app_id}-"))
        if doomed:
            response = admin.delete_topics(doomed, timeout_ms=int(timeout_s * 1000), raise_errors=False)
            for result in response["topics"]:
                code = result["error_code"]
                if code not in (0, _UNKNOWN_TOPIC):
                    error = kafka_errors.for_code(code)
                    raise TopicAdminError(f"cannot delete topic {result['name']!r}: {error.__name__}")
            while _partition_counts(admin, doomed):
                if time.monotonic() >= deadline:
                    raise TopicAdminError(f"topics still exist {timeout_s:.0f} s after deleting them: "
                                          f"{sorted(_partition_counts(admin, doomed))}")
                time.sleep(0.2)
        with contextlib.suppress(Exception):  # no such group (or still in use): nothing to forget
            admin.delete_groups([app_id])
    return doomed
