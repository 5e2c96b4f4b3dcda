"""Synthetic demand series with a known truth, shared by the forecasting tests."""

from __future__ import annotations

import numpy as np
import pytest

# a daily profile with quiet nights and busy evenings, mean exactly 1
PROFILE = np.array([0.2] * 7 + [0.8] * 5 + [1.2] * 6 + [2.0] * 4 + [0.6] * 2)
PROFILE = PROFILE / PROFILE.mean()


def hourly_means(rate: float, days: int, weekly_amplitude: float = 0.0) -> np.ndarray:
    t = np.arange(days * 24)
    week = 1.0 + weekly_amplitude * np.cos(2 * np.pi * (t // 24 - 4) / 7)
    return rate * PROFILE[t % 24] * week


@pytest.fixture
def profile() -> np.ndarray:
    """The true daily profile of ``hourly_poisson`` (24 factors, mean 1)."""
    return PROFILE.copy()


@pytest.fixture
def hourly_poisson():
    """``(counts, true means)``: hourly Poisson demand with the daily ``PROFILE``."""
    def make(rate: float = 2.0, days: int = 60, seed: int = 0, weekly_amplitude: float = 0.0):
        mu = hourly_means(rate, days, weekly_amplitude)
        return np.random.default_rng(seed).poisson(mu).astype(float).tolist(), mu
    return make


@pytest.fixture
def intermittent():
    """Hourly demand of a slow mover: ``per_day`` units a day on average (< 1), sizes 1-3."""
    def make(per_day: float = 0.5, days: int = 120, seed: int = 0):
        rng = np.random.default_rng(seed)
        n = days * 24
        occurs = rng.random(n) < per_day / 24 / 1.5
        sizes = rng.choice([1.0, 2.0, 3.0], size=n, p=[0.65, 0.2, 0.15])
        return (occurs * sizes).tolist()
    return make
