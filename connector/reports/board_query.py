"""The live board's limits and filters, without the queries: what the command line and the web endpoint
check before they reach the store (`connector.reports.board` holds the queries). Kept apart so that every
`connector` command does not import SQLAlchemy at start-up (0.3 s) because `connector board` is one of them."""

from __future__ import annotations

WINDOWS = (("within_1h", 3600), ("within_4h", 4 * 3600), ("within_24h", 24 * 3600))
FILTERS = ("source", "group", "assignee", "severity", "metric")
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
FORECAST_DAYS = 7
