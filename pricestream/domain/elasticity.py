"""Price elasticity of conversion, learned online per SKU, with its uncertainty.

Model: in a period with ``views`` page views at our price ``p`` and cheapest in-stock competitor
price ``c``, units sold are Poisson with mean

    views * exp(a + e * log(p / p_ref) + g * log(c / p_ref))

so ``e`` is the price elasticity of demand (per view) and ``g`` the cross-elasticity to the
competitor. The posterior over (a, e, g) is kept as a Gaussian (mean and precision matrix) and updated
once per closed period by one Newton step of the Poisson log-likelihood (an online Laplace
approximation, as in Bayesian GLM filtering). A forgetting factor lets it follow slow drift. The prior
is a pooled one, so a SKU whose price rarely moves stays near the pool and says so with a wide spread
instead of inventing a number.

>>> est = ElasticityEstimator.new(reference_price=10.0, prior_elasticity=-2.0)
>>> rng = __import__("numpy").random.default_rng(0)
>>> for t in range(3000):
...     p = 10.0 * (0.8 + 0.4 * (t % 7) / 6)
...     views = 40
...     est.learn(views, int(rng.poisson(views * 0.05 * (p / 10.0) ** -3.0)), p, None)
>>> abs(est.elasticity - -3.0) < 0.15, est.elasticity_sd < 0.2
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_PRIOR_SD = (3.0, 1.0, 1.0)        # on (a, e, g): the level is barely known, e and g within ~1
DEFAULT_PRIOR_CONVERSION = 0.03           # units per view before anything is known
MAX_STEP = 0.25                           # largest change of any coefficient in one period
FORGETTING = 0.9998                       # per period: a memory of about 5000 periods (seven months hourly)


@dataclass
class ElasticityEstimator:
    reference_price: float
    mean: list[float]                     # posterior mean of (a, e, g)
    precision: list[list[float]]          # posterior precision matrix, 3 x 3
    prior_mean: list[float]
    prior_precision_diag: list[float]
    periods: int = 0
    log_price_sum: float = 0.0            # to tell whether our price has varied
    log_price_sq_sum: float = 0.0
    forgetting: float = FORGETTING

    @classmethod
    def new(cls, reference_price: float, prior_elasticity: float = -2.0,
            prior_conversion: float = DEFAULT_PRIOR_CONVERSION,
            prior_cross: float = 0.5, prior_sd: tuple[float, float, float] = DEFAULT_PRIOR_SD) -> "ElasticityEstimator":
        mean = [math.log(prior_conversion), prior_elasticity, prior_cross]
        diag = [1.0 / s ** 2 for s in prior_sd]
        return cls(reference_price=reference_price, mean=list(mean),
                   precision=np.diag(diag).tolist(), prior_mean=list(mean), prior_precision_diag=diag)

    # -- what the rest of the engine reads -------------------------------------------------------
    @property
    def elasticity(self) -> float:
        return self.mean[1]

    @property
    def elasticity_sd(self) -> float:
        return math.sqrt(max(self.covariance()[1][1], 0.0))

    def covariance(self) -> list[list[float]]:
        return _inverse3(self.precision)

    def conversion(self, price: float, competitor_price: float | None) -> float:
        """Expected units per view at ``price`` (the posterior mean's prediction)."""
        return math.exp(float(np.dot(self.mean, self._features(price, competitor_price))))

    def log_conversion_var(self, price: float, competitor_price: float | None) -> float:
        """Posterior variance of log(conversion) at ``price``: how far the conversion itself is known."""
        x = np.asarray(self._features(price, competitor_price))
        return max(float(x @ np.asarray(self.covariance()) @ x), 0.0)

    def conversions(self, prices: np.ndarray, competitor_price: float | None,
                    theta: np.ndarray | None = None) -> np.ndarray:
        """Units per view at each of ``prices``, under ``theta`` (a posterior draw) or the posterior mean;
        at most 1 (a view buys at most one unit in this model's world)."""
        a, e, g = np.asarray(self.mean) if theta is None else theta
        return log_linear_conversions(a, e, g, prices, competitor_price, self.reference_price)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of (a, e, g) from the posterior: the Thompson sample of the learned pricing."""
        return gaussian_draw(self.mean, np.asarray(self.covariance()), rng)

    def best_known_price(self, competitor_price: float | None) -> float:
        """The price where the posterior knows the conversion best (the least variance of its log, with the
        competitor at ``competitor_price``): the centre of the prices its data came from, weighted by the
        units they sold; the reference price before any.

        >>> est = ElasticityEstimator.new(reference_price=10.0)
        >>> est.best_known_price(None)
        10.0
        >>> for t in range(500):           # sold at 12 and 14 only
        ...     price = 12.0 if t % 2 else 14.0
        ...     est.learn(100, round(100 * 0.03 * (price / 10.0) ** -2.0), price, None)
        >>> 12.0 < est.best_known_price(None) < 14.0
        True
        """
        at_reference = np.asarray(self._features(self.reference_price, competitor_price))     # (1, 0, log c)
        return self.reference_price * math.exp(least_uncertain_log_price(
            np.asarray(self.covariance()), at_reference, np.array([0.0, 1.0, 0.0])))

    def price_std_log(self) -> float:
        """Standard deviation of log(our price) over the periods seen: 0 when it never moved."""
        if self.periods < 2:
            return 0.0
        m = self.log_price_sum / self.periods
        return math.sqrt(max(self.log_price_sq_sum / self.periods - m * m, 0.0))

    def set_elasticity_prior(self, mean: float, sd: float) -> None:
        """A new prior for e (a warm start's): forgetting fades toward it from now on; the data learned stay."""
        self.prior_mean = [self.prior_mean[0], mean, self.prior_mean[2]]
        self.prior_precision_diag = [self.prior_precision_diag[0], 1.0 / sd ** 2, self.prior_precision_diag[2]]

    # -- learning ----------------------------------------------------------------------------------
    def learn(self, views: int, units: int, price: float, competitor_price: float | None) -> None:
        """One closed period. Periods without views carry no information about conversion."""
        self.periods += 1
        lp = math.log(price / self.reference_price)
        self.log_price_sum += lp
        self.log_price_sq_sum += lp * lp
        P, theta = fade_toward_prior(self.precision, self.mean, self.prior_precision_diag, self.prior_mean,
                                     self.forgetting)
        if views > 0:
            x = np.asarray(self._features(price, competitor_price))
            rate = views * math.exp(min(float(theta @ x), 20.0))
            P = P + rate * np.outer(x, x)
            theta = capped_newton_step(theta, P, (units - rate) * x)
        self.precision = P.tolist()
        self.mean = theta.tolist()

    def _features(self, price: float, competitor_price: float | None) -> list[float]:
        c = 0.0 if competitor_price is None else math.log(competitor_price / self.reference_price)
        return [1.0, math.log(price / self.reference_price), c]

    # -- state ---------------------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"reference_price": self.reference_price, "mean": self.mean, "precision": self.precision,
                "prior_mean": self.prior_mean, "prior_precision_diag": self.prior_precision_diag,
                "periods": self.periods, "log_price_sum": self.log_price_sum,
                "log_price_sq_sum": self.log_price_sq_sum, "forgetting": self.forgetting}

    @classmethod
    def from_state(cls, d: dict) -> "ElasticityEstimator":
        return cls(**d)


def log_linear_conversions(a: float, e: float, g: float, prices: np.ndarray, competitor_price,
                           reference_price: float) -> np.ndarray:
    """Units per view exp(a + e log(p / ref) + g log(c / ref)) at each of ``prices``, at most 1 (a view buys
    at most one unit); ``competitor_price`` is one price, one per price (where a follower would settle at
    each), or None (no competitor in stock: its term is 0)."""
    c = 0.0 if competitor_price is None else np.log(np.asarray(competitor_price, dtype=float) / reference_price)
    eta = a + e * np.log(prices / reference_price) + g * c
    return np.minimum(np.exp(np.minimum(eta, 0.0)), 1.0)


def least_uncertain_log_price(cov: np.ndarray, level: np.ndarray, slope: np.ndarray) -> float:
    """The log price (relative to the reference) where log(conversion) = level . theta + lp x slope . theta
    has the least posterior variance under ``cov``: where the data behind it centre. 0 (the reference
    price) when the slope has no variance."""
    slope_var = float(slope @ cov @ slope)
    return 0.0 if slope_var <= 0 else -float(level @ cov @ slope) / slope_var


def fade_toward_prior(precision: list[list[float]], mean: list[float], prior_precision_diag: list[float],
                      prior_mean: list[float], forgetting: float) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian posterior (precision, mean) after one period's forgetting.

    Forgetting fades old knowledge into the pooled prior, not into ignorance: precision and
    information (precision x mean) are both mixed with the prior's, so a direction the data never
    identify (our price tracking the competitor's) drifts back to the prior instead of wandering."""
    prior = np.diag(prior_precision_diag)
    P_old = np.asarray(precision)
    P = forgetting * P_old + (1 - forgetting) * prior
    info = forgetting * P_old @ np.asarray(mean) + (1 - forgetting) * prior @ np.asarray(prior_mean)
    return P, np.linalg.solve(P, info)


def capped_newton_step(theta: np.ndarray, precision: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """``theta`` after one Newton step of a Poisson likelihood (``precision`` already holds the period's
    curvature), no coefficient moving more than ``MAX_STEP``. An uncapped step overshoots wildly when a
    period sells far more than expected (3 units where 0.1 were expected); capped, learning stays
    stable and the evidence accumulates over periods instead."""
    step = np.linalg.solve(precision, gradient)
    largest = float(np.max(np.abs(step))) if step.size else 0.0
    return theta + (step * (MAX_STEP / largest) if largest > MAX_STEP else step)


def gaussian_draw(mean: list[float], cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from N(mean, cov): a Thompson sample. The covariance comes from a well-conditioned
    precision; it is symmetrised against rounding before its Cholesky factor is taken."""
    n = len(mean)
    chol = np.linalg.cholesky((cov + cov.T) / 2 + 1e-12 * np.eye(n))
    return np.asarray(mean) + chol @ rng.standard_normal(n)


def _inverse3(m: list[list[float]]) -> list[list[float]]:
    """Inverse of a 3 x 3 matrix by its adjugate: several times faster than numpy at this size, and the
    covariance is read a few times per SKU and tick.

    >>> [[x + 0.0 for x in row] for row in _inverse3([[2.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 0.5]])]
    [[0.5, 0.0, 0.0], [0.0, 0.25, 0.0], [0.0, 0.0, 2.0]]
    """
    (a, b, c), (d, e, f), (g, h, i) = m
    A, B, C = e * i - f * h, -(d * i - f * g), d * h - e * g
    det = a * A + b * B + c * C
    if det == 0 or not math.isfinite(det):
        return np.linalg.pinv(np.asarray(m)).tolist()
    return [[A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
            [B / det, (a * i - c * g) / det, -(a * f - c * d) / det],
            [C / det, -(a * h - b * g) / det, (a * e - b * d) / det]]
