"""Helpers of the report rendering tests: the example config (with a test contract) and events, and a reader
of the tables of a rendered page (stdlib `html.parser`, so it reads Chromium's DOM dump as well as our output)."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

from connector.config import Config, parse_config
from connector.events import Event, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "config" / "example.yaml"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)   # the example's last event

# Globex's clocks, monthly; a three-step sliding scale (the example config may bring its own contracts too)
TEST_CONTRACT: dict[str, Any] = {
    "name": "test-globex", "organizations": ["Globex"], "period": "month", "fee": 1000, "currency": "EUR",
    "exclusions": [{"name": "customer_caused", "when": {"tags_any": ["customer_caused"]}}],
    "credits": [{"below": "99%", "credit": "5%"}, {"below": "90%", "credit": "10%"},
                {"below": "70%", "credit": "25%"}],
}
CHARTS = {"sla": ("attainment", "percentiles"), "credits": ("credits",),
          "kpis": ("backlog", "trends", "escalations"), "audit": ("confusion", "top-share"),
          "olas": ("attainment", "handoffs"), "attribution": ("attribution",)}


def example_config(*, contracts: bool = True) -> Config:
    """The example config with `TEST_CONTRACT` added to its contracts (or with no contracts at all)."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["contracts"] = [*(data.get("contracts") or []), TEST_CONTRACT] if contracts else []
    return parse_config(data, source=str(EXAMPLE_CONFIG))


def example_events() -> list[Event]:
    with EXAMPLE_EVENTS.open(encoding="utf-8") as fh:
        return read_jsonl(fh)


class PageReader(HTMLParser):
    """Collect each table's header and cell texts by table id, and which chart figures hold an `<svg>`.

    The duration hint beside a number (`<span class="dur">`) is left out of a cell's text.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict[str, list[Any]]] = {}
        self.charts: dict[str, int] = {}      # chart id → number of <svg> elements inside it
        self.nodata: list[str] = []           # chart ids that say "no data"
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False
        self._skip = 0
        self._figure: str | None = None
        self._in_nodata = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "figure" and "chart" in classes:
            self._figure = (a.get("id") or "").removeprefix("chart-")
            self.charts[self._figure] = 0
        elif tag == "svg" and self._figure is not None:
            self.charts[self._figure] += 1
        elif tag == "p" and "nodata" in classes and self._figure is not None:
            self.nodata.append(self._figure)
        elif tag == "table":
            self._table = a.get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = {"headers": [], "rows": []}
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "span" and "dur" in classes:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        elif tag == "span" and self._skip:
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            table = self.tables[self._table]
            if self._in_head:
                table["headers"] = self._row
            else:
                table["rows"].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._skip:
            self._cell.append(data)


def read_page(text: str) -> PageReader:
    reader = PageReader()
    reader.feed(text)
    reader.close()
    return reader


def shown(value: Any) -> str:
    """How a table cell shows a JSON value."""
    return "–" if value is None or value == "" else str(value)
