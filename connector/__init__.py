"""The SLA connector: help-desk SLA clocks on business calendars, escalations, write-back and reports.

    from connector import load_config, BusinessCalendar
"""

from connector.config import Config, load_config, parse_config
from connector.errors import ConfigError, ConnectorError, EventError
from connector.events import Event, read_jsonl
from connector.rules.calendar import BusinessCalendar
from connector.rules.engine import Rulebook

__all__ = [
    "BusinessCalendar",
    "Config",
    "ConfigError",
    "ConnectorError",
    "Event",
    "EventError",
    "Rulebook",
    "load_config",
    "parse_config",
    "read_jsonl",
]
