"""A synthetic order history whose truth is known: for the bootstrap's unit and end-to-end tests."""

from __future__ import annotations

import functools

import numpy as np

HOUR = 3_600_000
START = 1_767_225_600_000          # 2026-01-01 00:00 UTC, a Thursday
WEEKS = 8
TRUE_ELASTICITY = -2.5
PEAK_HOUR = 19
DAILY = 0.3 + 2.0 * np.exp(-0.5 * ((np.arange(24) - PEAK_HOUR) / 2.0) ** 2)
DAILY /= DAILY.mean()


@functools.lru_cache
def history(seed: int = 7, skus=(("VARY", TRUE_ELASTICITY, 3.0, 0.2), ("FLAT", -1.0, 1.0, 0.0))) -> tuple[str, ...]:
    """Hourly Poisson orders over eight weeks: units = level x daily[hour] x (price / 20) ** e, the price
    drawn each day within +-``vary`` of 20. Rows ``sku,event_time_ms,quantity,unit_price``, one unit each."""
    rng = np.random.default_rng(seed)
    hours = np.arange(24 * 7 * WEEKS)
    rows = []
    for sku, elasticity, level, vary in skus:
        day_price = np.round(20.0 * (1 + rng.uniform(-vary, vary, size=7 * WEEKS)), 2)
        price = day_price[hours // 24]
        counts = rng.poisson(level * DAILY[hours % 24] * (price / 20.0) ** elasticity)
        for h in np.repeat(hours, counts):
            rows.append(f"{sku},{START + h * HOUR + int(rng.integers(0, HOUR))},1,{price[h]}")
    return tuple(rows)


def write(tmp_path, rows, header="sku,event_time_ms,quantity,unit_price", name="orders.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path
