"""The project's own Kafka broker and topic creation, against real Apache Kafka."""

from __future__ import annotations

import socket
import uuid

import pytest
from kafka.admin import ConfigResource, KafkaAdminClient

from pricestream.localkafka import LocalBroker
from pricestream.topics_admin import PartitionMismatchError, describe_topics, ensure_topics, reset_topics
from schemas.topics import TOPICS, TOPICS_BY_NAME

pytestmark = pytest.mark.e2e


def prefixed(settings, **changes):
    """Settings with topics of their own on the shared broker."""
    return settings.replace(topic_prefix=f"t{uuid.uuid4().hex[:8]}.", **changes)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_start_is_idempotent(kafka_broker):
    first = kafka_broker.broker.status()
    again = LocalBroker(kafka_broker.settings, data_dir=kafka_broker.broker.data_dir).start(progress=print)
    assert again.running and again.pid == first.pid


def test_status_reports_running(kafka_broker):
    status = kafka_broker.broker.status()
    assert status.running and status.pid
    assert status.bootstrap_servers == kafka_broker.settings.bootstrap_servers
    assert status.data_dir == kafka_broker.broker.data_dir
    assert "Kafka Server started" in status.log_path.read_text(errors="replace")


def test_ensure_topics_creates_every_topic(kafka_broker):
    settings = prefixed(kafka_broker.settings)
    names = [settings.topic(t.name) for t in TOPICS]
    assert ensure_topics(settings) == names
    assert describe_topics(settings) == {name: 4 for name in names}
    with KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers) as admin:
        configs = admin.describe_configs([ConfigResource("topic", settings.topic("catalog"), ["cleanup.policy"]),
                                          ConfigResource("topic", settings.topic("orders"), ["cleanup.policy"])],
                                         config_filter="all")["topic"]
    assert configs[settings.topic("catalog")]["cleanup.policy"]["value"] == "compact"
    assert configs[settings.topic("orders")]["cleanup.policy"]["value"] == "delete"
    assert ensure_topics(settings) == []  # idempotent


def test_ensure_topics_creates_only_the_missing(kafka_broker):
    settings = prefixed(kafka_broker.settings)
    assert ensure_topics(settings, topics=[TOPICS_BY_NAME["orders"]]) == [settings.topic("orders")]
    created = ensure_topics(settings)
    assert settings.topic("orders") not in created and len(created) == len(TOPICS) - 1


def test_partition_mismatch_is_refused_before_anything_is_created(kafka_broker):
    settings = prefixed(kafka_broker.settings)
    ensure_topics(settings, topics=[TOPICS_BY_NAME["catalog"]])
    with pytest.raises(PartitionMismatchError, match=rf"'{settings.topic('catalog')}' has 4 partitions, settings want 6"):
        ensure_topics(settings.replace(partitions=6))
    assert describe_topics(settings) == {settings.topic("catalog"): 4}


def test_stop_stops(own_broker):
    """A broker of its own: the session's one keeps running for the other tests."""
    broker, settings = own_broker, own_broker.settings
    port = settings.kafka_port
    started = broker.start(progress=print)
    assert started.running and port_open(port)
    assert ensure_topics(settings, topics=[TOPICS_BY_NAME["catalog"]]) == ["catalog"]

    broker.stop()
    status = broker.status()
    assert not status.running and status.pid is None
    assert not broker.pid_path.exists()
    assert not port_open(port) and not port_open(port + 1)
    broker.stop()  # stopping a stopped broker is fine

    broker.wipe()
    assert not broker.data_dir.exists()


def test_reset_topics_deletes_the_engine_and_app_topics(kafka_broker):
    settings = prefixed(kafka_broker.settings, app_id=f"pricestream-reset-{uuid.uuid4().hex[:8]}")
    names = ensure_topics(settings)
    with KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers) as admin:
        admin.create_topics({f"{settings.app_id}-prices-changelog": {"num_partitions": 4, "replication_factor": 1},
                             "someone-elses-topic-" + settings.app_id: {"num_partitions": 1, "replication_factor": 1}},
                            wait_for_metadata=True)
        assert reset_topics(settings) == sorted(names + [f"{settings.app_id}-prices-changelog"])
        assert "someone-elses-topic-" + settings.app_id in admin.list_topics()
    assert describe_topics(settings) == {}
    assert ensure_topics(settings) == names  # can be created again at once
