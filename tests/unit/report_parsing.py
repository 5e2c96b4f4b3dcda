"""Reading the HTML reports back in tests: their metric tables, sections and trace names."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser


class _Tables(HTMLParser):
    """{caption: {row label: {metric: exact value}}} from ``<td data-metric data-value>`` cells."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, str | None]]] = {}
        self._caption: str | None = None
        self._in_caption = False
        self._row: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "caption":
            self._in_caption, self._caption = True, ""
        elif tag == "tr" and "data-row" in a:
            self._row = a["data-row"]
            self.tables.setdefault(self._caption, {})[self._row] = {}
        elif tag == "td" and "data-metric" in a and self._row is not None:
            self.tables[self._caption][self._row][a["data-metric"]] = a.get("data-value")

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
            self.tables[self._caption] = {}

    def handle_data(self, data):
        if self._in_caption:
            self._caption += data


def tables(page: str) -> dict[str, dict[str, dict[str, str | None]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def table_starting(page: str, caption_start: str) -> dict[str, dict[str, str | None]]:
    found = [t for caption, t in tables(page).items() if caption.startswith(caption_start)]
    assert len(found) == 1, f"one table captioned {caption_start!r}: {list(tables(page))}"
    return found[0]


def sections(page: str) -> dict[str, str]:
    """{section id: its HTML}."""
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, flags=re.S))


def trace_names(section_html: str) -> set[str]:
    """Names of the plotly traces drawn in a section (from the figure's JSON in Plotly.newPlot)."""
    return {json.loads(f'"{m}"') for m in re.findall(r'"name":"((?:[^"\\]|\\.)*)"', section_html)}


def assert_self_contained(page: str) -> None:
    """Opens offline: no script, stylesheet or image is fetched from anywhere, and plotly.js is inline."""
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link[^>]*\bhref=\"https?:", page)
    assert not re.search(r"<img[^>]*\bsrc=\"https?:", page)
    inline = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert any("plotly.js" in script and "newPlot" in script for script in inline), "plotly.js is not inlined"
