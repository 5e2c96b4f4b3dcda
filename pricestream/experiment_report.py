"""``pricestream experiment report``: a live champion/challenger experiment judged from the topics.

Reads every committed catalogue entry, order and demand forecast of the deployment (settings as for the
worker: ``KAFKA_BOOTSTRAP_SERVERS``, ``PRICESTREAM_TOPIC_PREFIX``), books them in the experiment's ledger
(``pricestream.domain.experiment.ExperimentLedger``, the one ``simulate --challenger`` keeps) and prints
each arm's profit per SKU-day, the difference's interval and the verdict.
"""

from __future__ import annotations

import json
import sys

from pricestream.domain.experiment import ExperimentLedger
from pricestream.kafka_clients import read_committed
from pricestream.settings import Settings
from schemas.codec import decode
from schemas.records import CatalogEntry, DemandForecast, Order

TOPICS = (CatalogEntry.TOPIC, Order.TOPIC, DemandForecast.TOPIC)


def experiment_report(settings: Settings, starts_at_ms: int | None = None, confidence: float = 0.95,
                      timeout_s: float = 120) -> dict:
    """The comparison over everything on the topics now. ``starts_at_ms``: the experiment's start (the
    setting's when it has one, else the first tick that named an arm)."""
    if starts_at_ms is None and settings.experiment_start_ms:
        starts_at_ms = settings.experiment_start_ms
    messages = read_committed(settings, timeout_s, keep=lambda m: (m.key, m.value), topics=TOPICS)
    ledger = ExperimentLedger(starts_at_ms)
    for topic in (CatalogEntry.TOPIC, Order.TOPIC):
        for key, value in messages[topic]:
            ledger.input(decode(topic, key, value, settings.max_payload_bytes))   # a rejected one is not booked
    for _, value in messages[DemandForecast.TOPIC]:
        ledger.decision(DemandForecast.TOPIC, json.loads(value))
    return {"messages": {topic: len(v) for topic, v in messages.items()}, **ledger.compare(confidence)}


def run_experiment_report_command(args, settings: Settings) -> int:
    from pricestream.simulator.report import format_experiment

    report = experiment_report(settings, args.start_ms, args.confidence)
    if not any(entry["arm"] for entry in report["per_sku"].values()):
        print(f"pricestream experiment report: no forecast on {settings.topic('demand-forecasts')} names an arm "
              f"(is PRICESTREAM_EXPERIMENT_CHALLENGER set on the worker?)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        champion = settings.pricing_policy
        challenger = settings.experiment_challenger or "challenger"
        print(format_experiment({**report, "challenger_policy": challenger}, champion))
        if report["skus_with_two_arms"]:
            print(f"  warning: {len(report['skus_with_two_arms'])} SKUs were in both arms (the salt changed?): "
                  f"{report['skus_with_two_arms'][:10]}", file=sys.stderr)
    return 0 if report["difference"] is not None else 1
