"""How well does the engine forecast? Prequential (online) evaluation, river's protocol, with baselines.

``evaluate`` runs a forecaster through a series exactly as ``river.evaluate.evaluate`` (formerly
``river.time_series.evaluate``) does: the first ``grace_period`` values (river: ``horizon``) are
learned; then at each step the model forecasts ``horizon`` values, each is compared with the value
that arrives for it, and one more value is learned. The result is the mean absolute error per step
ahead and their mean.

**river's alignment.** river pairs the forecast made after learning ``y[0..i-1]`` with
``y[i+1..i+horizon]``, not with ``y[i..i+horizon-1]``: its "+1" error is in fact the error of a
one-step forecast against the value two steps ahead (``river/evaluate/forecasting.py``:
``_iter_with_horizon`` yields ``y[i]`` with the *next* ``horizon`` values, and the model learns
``y[i]`` only after forecasting). That is what river's documented numbers measure, so it is the
default here (``aligned=False``), and it is what the reproduction test checks. On a strongly seasonal
series it charges a correct model for the season's step from one period to the next (AirlinePassengers:
river's Holt-Winters scores 28.77 on river's protocol, 13.43 when aligned). ``aligned=True`` scores the
textbook protocol (forecast of ``y[i+h-1]`` against ``y[i+h-1]``), and :func:`run_forecast_eval`
reports both.

Baselines on the same steps: seasonal naive; statsmodels ``ExponentialSmoothing(trend="add",
seasonal="mul")`` refit from scratch on the expanding window at every step (where it cannot be fit,
for example before two full seasons, or with zeros in the data for a multiplicative season, that
step falls back to seasonal naive and is counted in ``n_fallback``); and river's SNARIMAX
(12,1,12)(0,1,0)12-like, when ``snarimax=True``.

The refits are independent, so they run in worker processes (``processes``), each with
single-threaded BLAS (multi-threaded BLAS only slows a fit this small down).
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

__all__ = ["evaluate", "prequential_forecasts", "score", "ets_refit_forecasts", "run_forecast_eval",
           "evaluate_ets_refit", "engine_forecaster", "forecast_eval_runs", "ForecastRuns"]

_SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# -- the protocol ------------------------------------------------------------------------------------
def prequential_forecasts(series: Sequence[float], make_forecaster: Callable[[], Any], horizon: int,
                          grace_period: int | None = None, on_step: Callable[[Any], None] | None = None,
                          ) -> list[tuple[int, list[float]]]:
    """``(i, forecast of the next horizon values after learning series[:i])`` for every step.

    Steps run from ``i = grace_period`` (default ``horizon``, river's) to ``len(series) - horizon``;
    after forecasting at step ``i`` the model learns ``series[i]``. ``on_step(model)`` is called
    after each forecast (for instance to record which candidate a selector used).
    """
    horizon, grace = _check(series, horizon, grace_period)
    model = make_forecaster()
    for y in series[:grace]:
        model.learn_one(y)
    out = []
    for i in range(grace, len(series) - horizon + 1):
        out.append((i, [float(v) for v in model.forecast(horizon)]))
        if on_step is not None:
            on_step(model)
        model.learn_one(series[i])
    return out


def score(series: Sequence[float], forecasts: Iterable[tuple[int, list[float]]], horizon: int,
          aligned: bool = False) -> dict[str, Any]:
    """Mean absolute error per step ahead of ``forecasts`` (from :func:`prequential_forecasts`).

    ``aligned=False`` is river's protocol: the forecast made at step ``i`` is compared with
    ``series[i+1 : i+1+horizon]`` (and the last step, which has no such values, is not scored);
    ``aligned=True`` compares it with ``series[i : i+horizon]``.
    """
    shift = 0 if aligned else 1
    n = len(series)
    sums = [0.0] * horizon
    steps = 0
    for i, pred in forecasts:
        if i + shift + horizon > n:
            continue
        for h in range(horizon):
            sums[h] += abs(series[i + shift + h] - pred[h])
        steps += 1
    if not steps:
        raise ValueError("the series is too short for this horizon and grace period")
    mae = [s / steps for s in sums]
    return {"mae_by_horizon": mae, "mean_mae": math.fsum(mae) / horizon, "n_steps": steps,
            "protocol": "aligned" if aligned else "river"}


def evaluate(series: Sequence[float], make_forecaster: Callable[[], Any], horizon: int,
             grace_period: int | None = None, aligned: bool = False) -> dict[str, Any]:
    """Prequential evaluation of a forecaster, river's protocol unless ``aligned``.

    ``make_forecaster()`` returns a fresh model with ``learn_one(y)`` and ``forecast(horizon)``.
    Returns ``{"mae_by_horizon": [...], "mean_mae": ..., "n_steps": ..., "protocol": ...}``.

    >>> from pricestream.domain.forecasting import SeasonalNaive
    >>> series = [1.0, 2.0, 3.0] * 6
    >>> evaluate(series, lambda: SeasonalNaive(3), horizon=3, aligned=True)["mean_mae"]
    0.0
    >>> round(evaluate(series, lambda: SeasonalNaive(3), horizon=3)["mean_mae"], 3)   # river's pairing
    1.333
    """
    return score(series, prequential_forecasts(series, make_forecaster, horizon, grace_period), horizon, aligned)


def _check(series: Sequence[float], horizon: int, grace_period: int | None) -> tuple[int, int]:
    horizon = int(horizon)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    grace = horizon if grace_period is None else int(grace_period)
    if grace < 1:
        raise ValueError(f"grace_period must be >= 1, got {grace}")
    if len(series) < grace + horizon + 1:
        raise ValueError(f"{len(series)} values are too few for grace period {grace} and horizon {horizon}")
    return horizon, grace


# -- the engine's forecaster -------------------------------------------------------------------------
def engine_forecaster(season: int, weekly: int | None = None):
    """The forecaster the engine uses per SKU: the default :class:`ForecasterSelector`."""
    from pricestream.domain.forecasting import ForecasterSelector

    return ForecasterSelector(season=season, weekly=weekly)


# -- statsmodels ETS refit on the expanding window ---------------------------------------------------
def _seasonal_naive_forecast(history: Sequence[float], season: int, horizon: int) -> list[float]:
    if len(history) >= season:
        last = history[-season:]
        return [float(last[h % season]) for h in range(horizon)]
    mean = sum(history) / len(history) if history else 0.0
    return [mean] * horizon


def _ets_forecast(args: tuple[list[float], int, int]) -> tuple[list[float], bool]:
    """Fit ETS(A,A,M) on ``history`` and forecast ``horizon`` values; (forecast, fitted)."""
    history, season, horizon = args
    import numpy as np
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ExponentialSmoothing(np.asarray(history, dtype=float), trend="add", seasonal="mul",
                                       seasonal_periods=season, initialization_method="estimated").fit()
            pred = np.asarray(fit.forecast(horizon), dtype=float)
        if not np.all(np.isfinite(pred)):
            raise ValueError("non-finite forecast")
        return pred.tolist(), True
    except Exception:           # noqa: BLE001 - any failure to fit means "no ETS forecast at this step"
        return _seasonal_naive_forecast(history, season, horizon), False


def _ets_worker_main() -> None:
    """Worker process: read one JSON job per line on stdin, write one JSON result per line."""
    import json
    import sys

    for line in sys.stdin:
        history, season, horizon = json.loads(line)
        pred, fitted = _ets_forecast((history, season, horizon))
        sys.stdout.write(json.dumps([pred, fitted]) + "\n")
        sys.stdout.flush()


def _run_in_workers(jobs: list[tuple[list[float], int, int]], processes: int) -> list[tuple[list[float], bool]]:
    """``_ets_forecast`` over ``jobs`` in ``processes`` plain worker processes (``python -c``), each
    with single-threaded BLAS; order kept. Plain subprocesses, not ``multiprocessing``: they do not
    re-import the caller's ``__main__``, so a script without a ``__main__`` guard can call this."""
    import json
    import subprocess
    import sys

    env = {**os.environ, **_SINGLE_THREAD_ENV}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))      # importable from a checkout too
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    code = "from pricestream.forecast_eval import _ets_worker_main; _ets_worker_main()"
    shares = [list(range(k, len(jobs), processes)) for k in range(processes)]
    workers = []
    for share in shares:
        payload = "".join(json.dumps(jobs[j]) + "\n" for j in share)
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        workers.append((share, proc, payload))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(workers)) as feeders:      # feed and drain all at once
        outputs = list(feeders.map(lambda w: w[1].communicate(w[2]), workers))
    results: list[tuple[list[float], bool] | None] = [None] * len(jobs)
    for (share, proc, _), (out, err) in zip(workers, outputs):
        if proc.returncode != 0:
            raise RuntimeError(f"ETS worker failed ({proc.returncode}): {err.strip()[-2000:]}")
        lines = out.splitlines()
        if len(lines) != len(share):
            raise RuntimeError(f"ETS worker returned {len(lines)} results for {len(share)} jobs")
        for j, line in zip(share, lines):
            pred, fitted = json.loads(line)
            results[j] = (pred, fitted)
    return results  # type: ignore[return-value]


def ets_refit_forecasts(series: Sequence[float], season: int, horizon: int, grace_period: int | None = None,
                        processes: int | None = None) -> tuple[list[tuple[int, list[float]]], int]:
    """statsmodels ETS refit on ``series[:i]`` at every step ``i`` of the protocol.

    Returns the forecasts (as :func:`prequential_forecasts`) and how many steps fell back to
    seasonal naive because the model could not be fit. Nothing is carried from one step's fit to the
    next. ``processes``: worker processes (default: one per CPU, at most 4); 0 or 1 fits in this
    process.
    """
    horizon, grace = _check(series, horizon, grace_period)
    values = [float(v) for v in series]
    steps = list(range(grace, len(values) - horizon + 1))
    jobs = [(values[:i], int(season), horizon) for i in steps]
    # a multiplicative season needs strictly positive data: statsmodels refuses any other history, so
    # those steps fall back without asking it
    fittable = [k for k, (history, _, _) in enumerate(jobs) if min(history) > 0.0]
    results: list[tuple[list[float], bool]] = [
        (_seasonal_naive_forecast(history, m, h), False) for history, m, h in jobs]
    if processes is None:
        processes = min(4, os.cpu_count() or 1)
    processes = min(int(processes), len(fittable))
    todo = [jobs[k] for k in fittable]
    done = _run_in_workers(todo, processes) if processes > 1 else [_ets_forecast(job) for job in todo]
    for k, result in zip(fittable, done):
        results[k] = result
    fallbacks = sum(1 for _, fitted in results if not fitted)
    return [(i, pred) for i, (pred, _) in zip(steps, results)], fallbacks


def evaluate_ets_refit(series: Sequence[float], season: int, horizon: int, grace_period: int | None = None,
                       aligned: bool = False, processes: int | None = None) -> dict[str, Any]:
    """:func:`evaluate` for statsmodels ETS(A,A,M) refit at every step; adds ``n_fallback``."""
    forecasts, fallbacks = ets_refit_forecasts(series, season, horizon, grace_period, processes)
    return {**score(series, forecasts, horizon, aligned), "n_fallback": fallbacks}


# -- river's SNARIMAX --------------------------------------------------------------------------------
class _Snarimax:
    """river's SNARIMAX(p=season, d=1, q=season)(0, 1, 0) with its default regressor, no features."""

    def __init__(self, season: int):
        from river import time_series

        self.model = time_series.SNARIMAX(p=season, d=1, q=season, m=season, sd=1)

    def learn_one(self, y: float) -> None:
        self.model.learn_one(y)

    def forecast(self, horizon: int) -> list[float]:
        return [float(v) for v in self.model.forecast(horizon)]


# -- the report --------------------------------------------------------------------------------------
Forecasts = list[tuple[int, list[float]]]


@dataclass
class ForecastRuns:
    """What every model forecast at every step (as :func:`prequential_forecasts`): the report's plots."""
    series: list[float]
    horizon: int
    engine: Forecasts
    engine_std: list[list[float]]            # the engine's predictive sd, step by step like ``engine``
    baselines: dict[str, Forecasts] = field(default_factory=dict)    # by the report's key
    dates: list[Any] | None = None           # each value's date, when the rows were sorted by one


def _both(series, forecasts, horizon) -> dict[str, Any]:
    river = score(series, forecasts, horizon, aligned=False)
    aligned = score(series, forecasts, horizon, aligned=True)
    return {"mae_by_horizon": river["mae_by_horizon"], "mean_mae": river["mean_mae"], "n_steps": river["n_steps"],
            "aligned": {"mae_by_horizon": aligned["mae_by_horizon"], "mean_mae": aligned["mean_mae"],
                        "n_steps": aligned["n_steps"]}}


def run_forecast_eval(csv: str, column: str, horizon: int, season: int, date_column: str | None = None, *,
                      weekly: int | None = None, grace_period: int | None = None, snarimax: bool = True,
                      processes: int | None = None) -> dict[str, Any]:
    """The report of :func:`forecast_eval_runs`, without the forecasts."""
    return forecast_eval_runs(csv, column, horizon, season, date_column, weekly=weekly, grace_period=grace_period,
                              snarimax=snarimax, processes=processes)[0]


def forecast_eval_runs(csv: str, column: str, horizon: int, season: int, date_column: str | None = None, *,
                       weekly: int | None = None, grace_period: int | None = None, snarimax: bool = True,
                       processes: int | None = None) -> tuple[dict[str, Any], ForecastRuns]:
    """Evaluate the engine's forecaster and the baselines on one column of a CSV file.

    Rows are sorted by ``date_column`` when given; missing values are dropped (and counted). Every
    model is scored on the same steps, river's protocol at the top level (``mae_by_horizon``,
    ``mean_mae``) and the aligned protocol under ``"aligned"``. Returns a JSON-able dict::

        {"series", "n", "horizon", "season", "grace_period", "protocol",
         "engine": {"mae_by_horizon", "mean_mae", "chosen", "chosen_counts", "aligned"},
         "seasonal_naive": {...}, "statsmodels_ets": {..., "n_fallback"}, "snarimax": {...}}

    and every model's forecasts (:class:`ForecastRuns`).
    """
    import pandas as pd

    from pricestream.domain.forecasting import SeasonalNaive

    frame = pd.read_csv(csv)
    if column not in frame.columns:
        raise ValueError(f"column {column!r} not in {csv} (columns: {list(frame.columns)})")
    if date_column is not None:
        if date_column not in frame.columns:
            raise ValueError(f"date column {date_column!r} not in {csv} (columns: {list(frame.columns)})")
        frame = frame.assign(_date=pd.to_datetime(frame[date_column])).sort_values("_date", kind="stable")
    values = pd.to_numeric(frame[column], errors="coerce")
    dropped = int(values.isna().sum())
    series = [float(v) for v in values.dropna()]
    dates = list(frame["_date"][values.notna()]) if date_column is not None else None
    horizon, grace = _check(series, horizon, grace_period)

    chosen: Counter[str] = Counter()
    last: dict[str, Any] = {}
    engine_std: list[list[float]] = []

    def record(model) -> None:
        chosen.update([model.chosen])
        last["chosen"] = model.chosen
        engine_std.append([float(v) for v in model.forecast_std(horizon)])     # read-only: for the plots

    engine = prequential_forecasts(series, lambda: engine_forecaster(season, weekly), horizon, grace, on_step=record)
    naive = prequential_forecasts(series, lambda: SeasonalNaive(season), horizon, grace)
    ets, fallbacks = ets_refit_forecasts(series, season, horizon, grace, processes)
    report: dict[str, Any] = {
        "series": column, "n": len(series), "n_dropped": dropped, "horizon": horizon, "season": int(season),
        "grace_period": grace, "protocol": "river (forecast after learning y[:i] scored against y[i+1:i+1+h]); "
                                           "'aligned': against y[i:i+h]",
        "engine": {**_both(series, engine, horizon), "chosen": last["chosen"],
                   "chosen_counts": dict(chosen.most_common())},
        "seasonal_naive": _both(series, naive, horizon),
        "statsmodels_ets": {**_both(series, ets, horizon), "n_fallback": fallbacks},
    }
    runs = ForecastRuns(series, horizon, engine, engine_std, {"seasonal_naive": naive, "statsmodels_ets": ets},
                        dates)
    if snarimax:
        try:
            forecasts = prequential_forecasts(series, lambda: _Snarimax(season), horizon, grace)
            report["snarimax"] = _both(series, forecasts, horizon)
            runs.baselines["snarimax"] = forecasts
        except Exception as exc:     # noqa: BLE001 - optional baseline: report why it is missing
            report["snarimax"] = {"error": f"{type(exc).__name__}: {exc}"}
    return report, runs
