"""Durable storage (SQLAlchemy Core + Alembic): SQLite by default, PostgreSQL to scale out."""

from connector.store.store import InboxRow, NewAction, OutboxRow, Store, TicketKey, TicketTx

__all__ = ["InboxRow", "NewAction", "OutboxRow", "Store", "TicketKey", "TicketTx"]
