"""The worker's status page (/status/), its Prometheus metrics (/metrics) and its periodic log line of counters."""

from __future__ import annotations

import logging

from streams.metrics import CONTENT_TYPE, registry_for, render, worker_sources

log = logging.getLogger("pricestream.worker")


def is_ready(app) -> bool:
    """Partitions assigned and state recovered from the changelogs: the worker is deciding."""
    recovery = getattr(app.tables, "recovery", None)
    return bool(recovery is not None and recovery.completed.is_set() and app.consumer.assignment())


def assigned_partitions(worker) -> dict[str, list[int]]:
    """The state partitions this worker decides for (active) and those it keeps a standby copy of."""
    assignor, changelog = worker.app.assignor, worker.tables.sku_state.changelog_topic.get_topic_name()
    return {"active": sorted(tp.partition for tp in assignor.assigned_actives() if tp.topic == changelog),
            "standby": sorted(tp.partition for tp in assignor.assigned_standbys() if tp.topic == changelog)}


def register_status(worker) -> None:
    counters = worker.counters

    @worker.app.page("/status/")
    async def status(web, request):
        return web.json({"app_id": worker.settings.app_id, "pricing_policy": worker.settings.pricing_policy,
                         "restock_policy": worker.settings.restock_policy, "ready": is_ready(worker.app),
                         "partitions": assigned_partitions(worker),
                         **counters.snapshot()})

    registry = registry_for(worker_sources(worker))

    @worker.app.page("/metrics")
    async def prometheus_metrics(web, request):
        return web.bytes(render(registry), headers={"Content-Type": CONTENT_TYPE})

    @worker.app.timer(interval=worker.settings.status_interval_s)
    async def log_counters():
        log.info("status: %s", counters.log_line())
