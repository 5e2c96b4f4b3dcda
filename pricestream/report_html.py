"""Self-contained HTML reports with plotly charts: the page scaffolding `simulate --report` and
`forecast-eval --report` share.

A page is a title, a few lines of context, metric tables, then sections of charts. plotly.js is inlined
once in the page head (not once per chart), so the file opens offline and stays a few MB however many
charts it has. Every table cell of a metric carries its exact value in ``data-value`` (``repr`` of the
number) next to the rounded text shown, so a reader (or a test) can check it against the run's JSON.
"""

from __future__ import annotations

import html
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

REPORT_SUFFIXES = (".html", ".htm")
MAX_POINTS_PER_TRACE = 1000        # longer paths are averaged over buckets: keeps 50 SKUs x 90 days light
BAND_Z = 1.959964                  # a normal 95 % band: mean +- 1.96 sd


class ReportPathError(ValueError):
    """The report path is not an HTML file (PNG would need kaleido and a headless Chrome)."""


def check_report_path(path: str | Path) -> Path:
    """The path as a Path, or ReportPathError when it does not end in .html/.htm: checked before a run,
    so a long simulation does not end with nowhere to write."""
    path = Path(path)
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise ReportPathError(f"--report writes HTML: give a path ending in .html, not {path.name!r}")
    return path


@dataclass(frozen=True)
class Column:
    key: str                        # the metric's key in the run's report dict
    label: str
    spec: str = ".1f"               # format spec of the text shown


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    body: str                       # HTML: charts and notes


def format_value(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return format(value, spec)


def metrics_table(rows: Sequence[tuple[str, dict]], columns: Sequence[Column], caption: str,
                  row_header: str = "") -> str:
    """An HTML table: one row per (label, metrics dict), one column per metric."""
    head = "".join(f"<th>{html.escape(c.label)}</th>" for c in columns)
    body = []
    for label, metrics in rows:
        cells = []
        for c in columns:
            value = metrics.get(c.key)
            exact = "" if value is None else f' data-value="{html.escape(repr(value))}"'
            cells.append(f'<td data-metric="{html.escape(c.key)}"{exact}>{html.escape(format_value(value, c.spec))}</td>')
        body.append(f'<tr data-row="{html.escape(label)}"><th>{html.escape(label)}</th>{"".join(cells)}</tr>')
    return (f'<table class="metrics"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr><th>{html.escape(row_header)}</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def figure_html(fig) -> str:
    """One plotly figure as a div and its script, relying on the page's inlined plotly.js."""
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def bucket_size(n: int, max_points: int = MAX_POINTS_PER_TRACE) -> int:
    """How many consecutive values to average into one point so that ``n`` values give at most ``max_points``."""
    return max(1, math.ceil(n / max_points))


def downsample(values: Sequence[float | None], size: int, reduce: Callable = np.nanmean) -> np.ndarray:
    """``values`` (None: missing) reduced over consecutive buckets of ``size``; a bucket with no value is NaN
    (a gap in the chart)."""
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    if size <= 1:
        return array
    padded = np.full(math.ceil(len(array) / size) * size, np.nan)
    padded[:len(array)] = array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # an all-missing bucket: NaN is the answer
        return reduce(padded.reshape(-1, size), axis=1)


def band(mean: np.ndarray, std: np.ndarray, floor: float | None = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % band mean +- 1.96 sd, its lower edge cut at ``floor`` (units sold are never negative)."""
    low = mean - BAND_Z * std
    if floor is not None:
        low = np.maximum(low, floor)
    return low, mean + BAND_Z * std


def band_traces(x, mean: np.ndarray, std: np.ndarray, name: str, color: str) -> list:
    """Two scatter traces drawing the band as a filled area (lower edge first, then the upper filled to it)."""
    import plotly.graph_objects as go

    low, high = band(mean, std)
    fill = color.replace("rgb(", "rgba(").replace(")", ", 0.2)")
    return [go.Scatter(x=x, y=low, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip",
                       legendgroup=name, name=f"{name} (lower)"),
            go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=fill,
                       legendgroup=name, name=name)]


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
p.context { color: #555; margin: 0.2em 0; }
table.metrics { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
table.metrics caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
table.metrics th, table.metrics td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
table.metrics tbody th { white-space: nowrap; text-align: left; }
table.metrics { display: block; overflow-x: auto; }
table.metrics td { text-align: right; font-variant-numeric: tabular-nums; }
table.metrics thead th { background: #f4f4f4; }
nav a { margin-right: 0.8em; white-space: nowrap; }
"""


def render_page(title: str, context: Sequence[str], tables: Sequence[str], sections: Sequence[Section],
                nav_label: str = "Sections") -> str:
    """The whole page: plotly.js inlined once, the context lines, the tables, links to and the sections."""
    from plotly.offline import get_plotlyjs

    links = " ".join(f'<a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(f'<section id="{html.escape(s.anchor)}"><h2>{html.escape(s.title)}</h2>\n{s.body}\n</section>'
                     for s in sections)
    lines = "".join(f'<p class="context">{html.escape(line)}</p>' for line in context)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style>\n<script>{get_plotlyjs()}</script>\n</head><body>\n"
            f"<h1>{html.escape(title)}</h1>{lines}\n{''.join(tables)}\n"
            f"<nav><strong>{html.escape(nav_label)}:</strong> {links}</nav>\n{body}\n</body></html>\n")


def write_report(path: str | Path, page: str) -> Path:
    path = check_report_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
