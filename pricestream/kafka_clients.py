"""How every kafka-python client of the project connects: one place, so security settings apply to all.

The worker connects through Faust (``streams/app.py``); every other client (simulator, tail, crash test,
topic admin, bootstrap, tests) takes its connection arguments from :func:`connection`.
"""

from __future__ import annotations

from pricestream.settings import Settings


def connection(settings: Settings) -> dict:
    """The keyword arguments a kafka-python client needs to reach ``settings``' cluster."""
    return {"bootstrap_servers": settings.bootstrap_servers.split(",")}
