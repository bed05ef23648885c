"""inbox.ticket: the ticket a delivery is about, so workers claim by ticket

A digest of (source, account, ticket id) when the delivery concerns one ticket (known at the door), else
NULL. A worker claims a delivery only while no other worker holds a live claim on its ticket, so one
ticket's deliveries are applied in arrival order even with several workers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ticket", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_inbox_ticket_state"), ["ticket", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_ticket_state"))
        batch_op.drop_column("ticket")
