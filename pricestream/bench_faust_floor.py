"""The benchmark's middle baseline: a minimal Faust agent over the same topics, as a process of its own.

It does what the raw aiokafka loop does (parse each message's JSON, write one message per 100) through
Faust's stream machinery, with the engine's processing guarantee: the pace Faust itself allows on
this machine, before any of the engine's work. ``python -m pricestream.bench_faust_floor`` reads its
plan from ``PRICESTREAM_BENCH_FLOOR`` (JSON) and writes its figures (JSON) to the plan's ``result``
file when it has read them all (a Faust worker's stdout goes to its log).
"""

from __future__ import annotations

import json
import os
import sys
import time

import faust
import orjson

from pricestream.kafka_clients import faust_credentials
from pricestream.settings import Settings
from streams.app import broker_urls

PLAN_ENV = "PRICESTREAM_BENCH_FLOOR"


def main() -> None:
    plan = json.loads(os.environ[PLAN_ENV])      # topics, messages, output (topic), datadir, result (file)
    settings = Settings.from_env()
    app = faust.App(f"{settings.app_id}-faust-floor", broker=broker_urls(settings.bootstrap_servers),
                    broker_credentials=faust_credentials(settings), processing_guarantee=settings.processing_guarantee,
                    web_enabled=False, autodiscover=False, topic_partitions=settings.partitions,
                    datadir=plan["datadir"], broker_commit_interval=settings.commit_interval_s)
    inputs = app.topic(*plan["topics"], key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    output = app.topic(plan["output"], key_serializer="raw", value_serializer="raw")
    seen = {"n": 0}

    @app.agent(inputs)
    async def floor(stream):
        async for event in stream.events():
            if seen["n"] == 0:
                seen["t0"], seen["cpu0"] = time.monotonic(), time.process_time()
            orjson.loads(event.message.value)
            seen["n"] += 1
            if seen["n"] % 100 == 0:
                await output.send(key=event.message.key, value=event.message.value)
            if seen["n"] >= plan["messages"]:
                seconds = time.monotonic() - seen["t0"]
                with open(plan["result"], "w") as result:
                    json.dump({"messages": seen["n"], "seconds": round(seconds, 2),
                               "events_per_s": round(seen["n"] / seconds),
                               "cpu_s_per_1000_events": round(1000 * (time.process_time() - seen["cpu0"]) / seen["n"], 4)},
                              result)
                os._exit(0)         # the figure is out; nothing to commit or shut down cleanly

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
