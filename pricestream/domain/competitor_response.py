"""How the cheapest competitor's price follows ours, learned online per SKU.

Competitors watch our prices too: a cut that one of them answers buys fewer extra sales than the
demand model's own-price elasticity promises, because its cross-price term moves against us. So the
learned policy asks, for every candidate price, where the cheapest competitor would settle if we held
that price, using

    log(c / ref) = k + beta * s,     s = our log price relative to ref, smoothed over recent periods

fitted by recursive least squares with forgetting (a memory of about ``1 / (1 - FORGETTING)``
periods). The smoothing is there because competitors answer late (they reprice on their own
schedule and we see their prices only now and then). ``beta`` starts at 0 (no answer) with a prior
spread of ``PRIOR_SD``; the policy uses it clipped to [0, 1]. It is identified because the learned
policy's own price moves (exploration) are not caused by the competitor.

>>> r = CompetitorResponse.new()
>>> import math
>>> for t in range(600):
...     ours = 10.0 * (1.2 if (t // 24) % 2 else 0.9)
...     r.learn(ours, 0.95 * math.exp(r.smoothed_log_price) * 10.0, reference_price=10.0)
>>> 0.9 < r.beta < 1.1
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SMOOTHING = 0.1             # weight of the newest period in the smoothed price: a lag of ~10 periods
FORGETTING = 0.995          # per period: a memory of ~200 periods (eight days hourly)
PRIOR_SD = (1.0, 0.3)       # on (k, beta): no answer assumed until the data show one
NOISE_VAR = 0.1 ** 2        # of log competitor price around the fit: their own moves, about 10 %


@dataclass
class CompetitorResponse:
    smoothed_log_price: float = 0.0
    mean: list[float] = field(default_factory=lambda: [0.0, 0.0])                 # (k, beta)
    precision: list[list[float]] = field(default_factory=lambda: [[1 / PRIOR_SD[0] ** 2, 0.0],
                                                                  [0.0, 1 / PRIOR_SD[1] ** 2]])
    periods: int = 0

    @classmethod
    def new(cls) -> "CompetitorResponse":
        return cls()

    @property
    def beta(self) -> float:
        return self.mean[1]

    def follow(self) -> float:
        """The share of a sustained move of ours the competitor is expected to answer, in [0, 1]."""
        return min(max(self.beta, 0.0), 1.0)

    def learn(self, price: float, competitor_price: float | None, reference_price: float) -> None:
        """One closed period: our price in it and the cheapest in-stock competitor's at its end."""
        x = math.log(price / reference_price)
        self.smoothed_log_price = x if self.periods == 0 else (
            (1 - SMOOTHING) * self.smoothed_log_price + SMOOTHING * x)
        self.periods += 1
        if competitor_price is None:
            return
        y = math.log(competitor_price / reference_price)
        s = self.smoothed_log_price
        # forgetting toward the prior (as the elasticity does), then one least-squares update
        (a, b), (_, d) = self.precision
        prior = (1 / PRIOR_SD[0] ** 2, 1 / PRIOR_SD[1] ** 2)
        f = FORGETTING
        p11, p12, p22 = f * a + (1 - f) * prior[0], f * b, f * d + (1 - f) * prior[1]
        info1 = f * (a * self.mean[0] + b * self.mean[1])
        info2 = f * (b * self.mean[0] + d * self.mean[1])
        w = 1.0 / NOISE_VAR
        p11, p12, p22 = p11 + w, p12 + w * s, p22 + w * s * s
        info1, info2 = info1 + w * y, info2 + w * y * s
        det = p11 * p22 - p12 * p12
        self.mean = [(p22 * info1 - p12 * info2) / det, (p11 * info2 - p12 * info1) / det]
        self.precision = [[p11, p12], [p12, p22]]

    def settled_competitor_price(self, competitor_price: float | None, candidate_price, reference_price: float):
        """Where the competitor would settle if we held ``candidate_price`` (scalar or array) from now.

        >>> r = CompetitorResponse(smoothed_log_price=0.0, mean=[0.0, 0.5])
        >>> # we hold four times our smoothed price; they follow half of that move in logs: twice theirs
        >>> round(float(r.settled_competitor_price(9.0, 40.0, reference_price=10.0)), 6)
        18.0
        """
        if competitor_price is None:
            return None
        moved = np.log(np.asarray(candidate_price, dtype=float) / reference_price) - self.smoothed_log_price
        return competitor_price * np.exp(self.follow() * moved)

    def to_state(self) -> dict:
        return {"smoothed_log_price": self.smoothed_log_price, "mean": list(self.mean),
                "precision": [list(r) for r in self.precision], "periods": self.periods}

    @classmethod
    def from_state(cls, d: dict) -> "CompetitorResponse":
        return cls(smoothed_log_price=d["smoothed_log_price"], mean=list(d["mean"]),
                   precision=[list(r) for r in d["precision"]], periods=d["periods"])
