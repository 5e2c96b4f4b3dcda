"""How the cheapest competitor's price follows ours, learned online per SKU.

Competitors watch our prices too: a cut that one of them answers buys fewer extra sales than the
demand model's own-price elasticity promises, because its cross-price term moves against us. So the
learned policy (with ``anticipate_competitors``) asks, for every candidate price, where the cheapest
competitor would settle if we held that price. Two models are learned:

- ``KinkedResponse`` (below), which the policy uses: a competitor that follows our cuts but never goes
  above its own price, ``min(L, a * our price)``;
- ``CompetitorResponse``, a linear one, kept for its smoothed price (what restocking plans for) and the
  share of our moves answered it reports in the price changes' inputs (``competitor_follow``):

    log(c / ref) = k + beta * s,     s = our log price relative to ref, smoothed over recent periods

fitted by recursive least squares with forgetting (a memory of about ``1 / (1 - FORGETTING)``
periods). The smoothing is there because competitors answer late (they reprice on their own
schedule and we see their prices only now and then). ``beta`` starts at 0 (no answer) with a prior
spread of ``PRIOR_SD``; ``follow`` clips it to [0, 1]. It is identified because the learned
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
        self.smoothed_log_price = smoothed_log_price(None if self.periods == 0 else self.smoothed_log_price,
                                                     math.log(price / reference_price))
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

    def to_state(self) -> dict:
        return {"smoothed_log_price": self.smoothed_log_price, "mean": list(self.mean),
                "precision": [list(r) for r in self.precision], "periods": self.periods}

    @classmethod
    def from_state(cls, d: dict) -> "CompetitorResponse":
        return cls(smoothed_log_price=d["smoothed_log_price"], mean=list(d["mean"]),
                   precision=[list(r) for r in d["precision"]], periods=d["periods"])


def smoothed_log_price(previous: float | None, x: float) -> float:
    """A log price smoothed over about ``1 / SMOOTHING`` periods: ``x`` itself when there is no history."""
    return x if previous is None else (1 - SMOOTHING) * previous + SMOOTHING * x


# -- the kinked response -------------------------------------------------------------------------------
# A competitor that follows our cuts but never goes above its own price shows the cheapest price
#
#     c(p) = min(L, a * p)
#
# L: where the cheapest competitor is on its own (its level), a: the ratio it keeps to our price when it
# follows (a little below 1: an undercut). A cut below L / a (the kink) is answered and buys only the
# own-price effect net of the cross-price one; above the kink the competitor stays put.
#
# a is found where a follower shows itself: at the moments the cheapest competitor price *changes*,
# log(c / p) (p our price then) lands again and again on the same value, at different prices of ours,
# whereas the changes of a competitor moving on its own land anywhere. These ratios are clustered online
# (a few clusters, with forgetting); a follower is believed in when one cluster holds enough recent
# changes made at prices of ours far enough apart (a competitor that merely stays put while we do
# would give the same ratio at the same price). The latest change then says where the competitor is:
#
# - *free*: below the follow line (c < a p): it is at its own level, L = c, and a cut down to c / a
#   leaves it there;
# - *following*: on the line: L is not seen, only that it is above c. It is taken as where it was last
#   seen free or where it shows now, whichever is higher, and a little higher the longer the following
#   lasts, so the policy probes upward until the competitor stops following. (From the last sighting
#   alone, a follower seen free at a promotion's low and following us well above it later was believed
#   to stay put when we rose: the price and the follower held each other down for weeks.)
# - *above* the line (c > a p): it does not come down to a p, as a follower at its floor (or one that is
#   out of stock) does not: a cut leaves it at c, a rise above c / a lifts it along the line up to L.
KINK_TOLERANCE = 0.004        # log-ratio half-width of a cluster (cents rounding is well inside it)
KINK_CLUSTERS = 4
KINK_EVENT_FORGETTING = 0.98  # per change of the cheapest price: a memory of about 50 changes
KINK_FOLLOW_WEIGHT = 3.0      # the least (decayed) number of changes on one ratio that makes a follower
KINK_FOLLOW_SPREAD = 0.02     # and how far apart (log) our prices at them must be, at least
KINK_LEVEL_DRIFT = 0.001      # per period spent following: the unseen level is taken this much higher (log)
KINK_LEVEL_DRIFT_CAP = 0.1    # at most this much above the higher of its last free sighting and its price now


@dataclass
class KinkedResponse:
    """The cheapest competitor's price as ``min(L, a * our price)``, learned online per SKU.

    >>> k = KinkedResponse()
    >>> level = 20.0                     # the competitor's own price; it undercuts ours by 3 % when lower
    >>> for t in range(400):
    ...     ours = 20.0 * (0.85 + 0.3 * ((t * 7) % 11) / 10)     # our price moves about (exploration)
    ...     k.learn(ours, round(min(level, 0.97 * ours), 2))
    >>> round(k.ratio(), 3), k.follows()
    (0.97, True)
    >>> k.regime                         # our last price, 23, is above the kink 20 / 0.97
    'free'
    >>> [round(float(c), 2) for c in k.settled_competitor_price(20.0, [15.0, 20.0, 25.0])]
    [14.55, 19.4, 20.0]
    """
    last_log_competitor: float | None = None      # the previous period's cheapest price (log)
    # [log ratio, decayed weight, lowest and highest log price of ours at the changes in it]
    clusters: list[list[float]] = field(default_factory=list)
    regime: str = "free"                          # where the latest change put it: free, following, above
    free_log_level: float | None = None           # log cheapest price when last seen off the follow line
    periods_following: int = 0

    def _top(self) -> list[float] | None:
        """The follower's cluster: the heaviest one that makes a follower, or None."""
        for c in self.clusters:         # heaviest first
            if c[1] >= KINK_FOLLOW_WEIGHT and c[3] - c[2] >= KINK_FOLLOW_SPREAD:
                return c
        return None

    def follows(self) -> bool:
        """Whether a competitor that follows our price shows in the recent changes."""
        return self._top() is not None

    def ratio(self) -> float | None:
        """a: the follower's price over ours, or None when no follower shows."""
        return math.exp(self._top()[0]) if self.follows() else None

    def level(self, competitor_price: float) -> float:
        """L: where the cheapest competitor would be on its own (the current price when it is free)."""
        if self.regime == "free" or self.free_log_level is None:
            return competitor_price
        drift = min(KINK_LEVEL_DRIFT * self.periods_following, KINK_LEVEL_DRIFT_CAP)
        return math.exp(max(math.log(competitor_price), self.free_log_level) + drift)

    def learn(self, price: float, competitor_price: float | None) -> None:
        """One closed period: our price in it and the cheapest in-stock competitor's at its end."""
        if competitor_price is None:
            self.last_log_competitor = None
            self.regime = "free"
            return
        y = math.log(competitor_price)
        changed = self.last_log_competitor is None or abs(y - self.last_log_competitor) > 1e-9
        self.last_log_competitor = y
        if changed:
            x = math.log(price)
            r = y - x
            for c in self.clusters:
                c[1] *= KINK_EVENT_FORGETTING
            near = min(self.clusters, key=lambda c: abs(c[0] - r)) if self.clusters else None
            if near is not None and abs(near[0] - r) <= KINK_TOLERANCE:
                near[0] += (r - near[0]) / (near[1] + 1.0)
                near[1] += 1.0
                near[2], near[3] = min(near[2], x), max(near[3], x)
            elif len(self.clusters) < KINK_CLUSTERS:
                self.clusters.append([r, 1.0, x, x])
            else:
                self.clusters[self.clusters.index(min(self.clusters, key=lambda c: c[1]))] = [r, 1.0, x, x]
            self.clusters.sort(key=lambda c: -c[1])
            if not self.follows() or r < self._top()[0] - KINK_TOLERANCE:
                self.regime = "free"
            else:
                self.regime = "following" if r <= self._top()[0] + KINK_TOLERANCE else "above"
        if self.regime == "free":
            self.free_log_level = y
            self.periods_following = 0
        else:
            self.periods_following += 1

    def settled_competitor_price(self, competitor_price: float | None, candidate_price):
        """Where the cheapest competitor would settle if we held ``candidate_price`` (scalar or array):
        ``min(L, a * price)`` with a follower (at least its price now when it is above the line), else its
        price now."""
        if competitor_price is None:
            return None
        a = self.ratio()
        if a is None:
            return competitor_price
        settled = np.minimum(self.level(competitor_price), a * np.asarray(candidate_price, dtype=float))
        return np.maximum(settled, competitor_price) if self.regime == "above" else settled

    def to_state(self) -> dict:
        return {"last": self.last_log_competitor, "clusters": [list(c) for c in self.clusters],
                "regime": self.regime, "free_log_level": self.free_log_level,
                "periods_following": self.periods_following}

    @classmethod
    def from_state(cls, d: dict) -> "KinkedResponse":
        return cls(last_log_competitor=d["last"], clusters=[list(c) for c in d["clusters"]],
                   regime=d["regime"], free_log_level=d["free_log_level"],
                   periods_following=d["periods_following"])
