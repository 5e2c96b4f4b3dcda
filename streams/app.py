"""The Faust application: built from ``Settings``, with the engine's topics, tables and agent."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from pricestream.domain.engine import Engine, EngineConfig
from pricestream.domain.experiment import Experiment
from pricestream.domain.pricing import PolicyParams
from pricestream.kafka_clients import faust_credentials
from pricestream.settings import Settings
from streams import faust_fixes
from streams.counters import WorkerCounters
from streams.tables import declare_tables, Tables
from streams.topics import declare_topics, Topics


@dataclass
class Worker:
    app: faust.App
    settings: Settings
    topics: Topics
    tables: Tables
    engine: Engine
    counters: WorkerCounters


SESSION_TIMEOUT_S = 10.0      # heartbeats every 3 s (Faust's default) from the consumer's own thread


def broker_urls(bootstrap_servers: str) -> str:
    """Faust's broker URL list from Kafka's comma-separated bootstrap servers.

    >>> broker_urls("a:9092, b:9092")
    'kafka://a:9092;kafka://b:9092'
    """
    return ";".join(f"kafka://{s.strip()}" for s in bootstrap_servers.split(",") if s.strip())


def engine_config(settings: Settings) -> EngineConfig:
    experiment = (Experiment(settings.experiment_challenger, settings.experiment_share, settings.experiment_salt,
                             settings.experiment_start_ms)
                  if settings.experiment_challenger else None)
    return EngineConfig(pricing_policy=settings.pricing_policy, restock_policy=settings.restock_policy,
                        params=PolicyParams(markup=settings.markup, undercut=settings.undercut,
                                            seed=settings.pricing_seed,
                                            anticipate_competitors=settings.anticipate_competitors),
                        experiment=experiment)


def create_worker(settings: Settings) -> Worker:
    faust_fixes.apply()
    app = faust.App(
        settings.app_id,
        broker=broker_urls(settings.bootstrap_servers),
        # SASL/SCRAM over TLS when KAFKA_SECURITY_PROTOCOL=SASL_SSL (producer, consumers, admin: all of Faust's)
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        # other workers of the group follow each state partition's changelog, ready to take it over
        table_standby_replicas=settings.standby_replicas,
        # under the home, not the working directory (``pricestream worker`` creates it)
        datadir=str(settings.worker_data_dir()),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        processing_guarantee=settings.processing_guarantee,
        broker_commit_interval=settings.commit_interval_s,
        # a worker that dies without leaving the group (SIGKILL, a lost machine) holds its partitions
        # until its session times out; Faust's default of 60 s is a minute without decisions
        broker_session_timeout=SESSION_TIMEOUT_S,
        web_enabled=True, web_host=settings.web_host, web_port=settings.web_port,
        autodiscover=False,
        # decisions depend only on event time, so no wall-clock windowing is needed
        table_cleanup_interval=3600.0,
    )
    if settings.store.startswith("rocksdb:"):
        faust_fixes.discard_local_tables(app)
    worker = Worker(app=app, settings=settings, topics=declare_topics(app, settings),
                    tables=declare_tables(app, settings), engine=Engine(engine_config(settings)),
                    counters=WorkerCounters())
    from agents.clock import register_live_clock
    from agents.decide import register_decide_agent
    from agents.status import register_status
    register_decide_agent(worker)
    register_status(worker)
    register_live_clock(worker)
    return worker
