"""board: the clocks running now, for the live board

One row per running clock with a due instant (the customer's and the internal agreements'), replaced for a
ticket each time the worker or the scheduler evaluates it; indexed by calendar and due instant, so the
board reads each calendar's clocks in the order of their time remaining, with the filtered columns in the
index so filtered counts read it alone; and an index of the clocks by metric and stop instant, for the
forecast's pace (the replies each group sent lately).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("ticket_id", sa.String(length=255), nullable=False),
        sa.Column("agreement", sa.String(length=255), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=255), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("declared", sa.String(length=32), nullable=True),
        sa.Column("policy", sa.String(length=255), nullable=True),
        sa.Column("calendar", sa.String(length=255), nullable=False),
        sa.Column("target_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("group_name", sa.String(length=255), nullable=True),
        sa.Column("assignee", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "account", "ticket_id", "agreement", "metric", "cycle",
                                name=op.f("pk_board")),
    )
    op.create_index("ix_board_calendar_due_at", "board",
                    ["calendar", "due_at", "severity", "group_name", "metric", "source", "assignee"], unique=False)
    op.create_index("ix_clocks_metric_stopped_at", "clocks",
                    ["metric", "stopped_at", "status", "group_name", "calendar"], unique=False)
    # the board fills as tickets are evaluated: every ticket the scheduler was to look at again (each running
    # clock makes one) is due now, so its next sweep puts the store's running clocks on the board
    op.execute("UPDATE tickets SET next_check_at = last_event_at WHERE next_check_at IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_clocks_metric_stopped_at", table_name="clocks")
    op.drop_index("ix_board_calendar_due_at", table_name="board")
    op.drop_table("board")
