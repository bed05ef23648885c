"""Freshdesk's name, used for its package, endpoint, config section, fixtures, log fields and metric labels."""

SOURCE = "freshdesk"
