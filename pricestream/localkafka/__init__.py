"""The project's own Apache Kafka broker (KRaft, single node, loopback), fetched from Maven Central.

Usage: ``LocalBroker(settings).start()`` fetches Kafka once (``ensure_distribution``), formats the
storage once, starts ``java kafka.Kafka`` detached and returns when ``127.0.0.1:<kafka_port>``
serves metadata; ``.status()``, ``.stop()`` and ``.wipe()`` do what they say.
"""

from pricestream.localkafka.broker import (
    BrokerStatus,
    LocalBroker,
    LocalKafkaError,
    distribution_lib,
    ensure_distribution,
    new_cluster_id,
    render_server_properties,
)

__all__ = [
    "BrokerStatus",
    "LocalBroker",
    "LocalKafkaError",
    "distribution_lib",
    "ensure_distribution",
    "new_cluster_id",
    "render_server_properties",
]
