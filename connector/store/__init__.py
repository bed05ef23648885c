"""Durable storage (SQLAlchemy Core + Alembic): SQLite by default, PostgreSQL to scale out."""

from connector.store.store import BatchConflict, InboxRow, Kept, NewAction, OutboxRow, Store, TicketKey, TicketTx

__all__ = ["BatchConflict", "InboxRow", "Kept", "NewAction", "OutboxRow", "Store", "TicketKey", "TicketTx"]
