"""clocks: a covering index for SLA attainment

The default attainment report groups by metric × severity × policy and ranks each group's business
seconds for its percentiles. With these columns in one index, in that order, SQLite and PostgreSQL read the
groups already sorted from the index alone (no table lookups, no sort), which is most of the report's cost
on a million clocks. It replaces the three-column index it starts with and the index on `started_at`
alone: with that one, SQLite chose it for `started_at <= now` (true of nearly every row) and read every
row from the table instead of the index, five times slower.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ["metric", "severity", "policy", "elapsed_seconds", "status", "target_seconds", "due_at", "started_at",
           "source", "account", "ticket_id"]


def upgrade() -> None:
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clocks_metric_severity_policy"))
        batch_op.drop_index(batch_op.f("ix_clocks_started_at"))
        batch_op.create_index("ix_clocks_report", COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_clocks_report")
        batch_op.create_index(batch_op.f("ix_clocks_started_at"), ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_clocks_metric_severity_policy"), ["metric", "severity", "policy"],
                              unique=False)
