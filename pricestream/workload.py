"""Seeded synthetic traffic for the harnesses that load the engine (``burst-test``, ``bench``).

The mix is page views, order lines and competitor prices over a fixed list of SKUs, drawn from one
seeded generator so that a run can be repeated message for message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from schemas import examples


@dataclass(frozen=True)
class Mix:
    """Shares of clicks and orders; the rest are competitor prices."""
    clicks: float
    orders: float

    def __post_init__(self):
        if not (0 <= self.clicks and 0 <= self.orders and self.clicks + self.orders <= 1):
            raise ValueError(f"shares must be in [0, 1] and sum to at most 1: {self}")


class Events:
    """An endless, seeded stream of events over ``skus``, in the proportions of ``mix``."""

    def __init__(self, skus: list[str], seed: int, mix: Mix = Mix(clicks=0.85, orders=0.12), prefix: str = "burst"):
        self.skus = skus
        self.mix = mix
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.n = 0

    def next(self, t_ms: int):
        self.n += 1
        sku, draw = self.rng.choice(self.skus), self.rng.random()
        if draw < self.mix.clicks:
            return examples.click(sku, t_ms, event_id=f"{self.prefix}-click-{self.n}")
        if draw < self.mix.clicks + self.mix.orders:
            return examples.order(sku, t_ms, quantity=1, unit_price=20.0, event_id=f"{self.prefix}-order-{self.n}")
        return examples.competitor_price(sku, t_ms, price=round(self.rng.uniform(15, 25), 2),
                                         event_id=f"{self.prefix}-comp-{self.n}")
