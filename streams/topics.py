"""Faust declarations of the topics in ``schemas.topics``: declared once, imported everywhere.

Payloads stay bytes here: ``schemas.codec`` parses and validates them, so a malformed message is a
dead letter with a reason instead of a deserialisation error inside Faust.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from pricestream.settings import Settings
from schemas.records import Tick
from schemas.topics import INPUT_TOPICS, OUTPUT_TOPICS


@dataclass
class Topics:
    inputs: faust.types.TopicT                       # one channel over every input topic
    outputs: dict[str, faust.types.TopicT]           # by contract topic name (without prefix)
    clock: faust.types.TopicT                        # where the live clock writes ticks


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    raw = dict(key_serializer="raw", value_serializer="raw")
    inputs = app.topic(*(settings.topic(n) for n in INPUT_TOPICS), partitions=settings.partitions, **raw)
    outputs = {name: app.topic(settings.topic(name), partitions=settings.partitions, **raw) for name in OUTPUT_TOPICS}
    clock = app.topic(settings.topic(Tick.TOPIC), partitions=settings.partitions, **raw)
    return Topics(inputs=inputs, outputs=outputs, clock=clock)
