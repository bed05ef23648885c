"""login_codes: the sign-in links already used

A sign-in link (`connector.service.session`) carries a code signed with a key derived from the API token;
any web process can check the signature, and this table makes each code work once across all of them
(gunicorn workers, machines behind a load balancer): the first use inserts the code's SHA-256, a second
finds it there. Rows are deleted an hour after the code expired.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_codes",
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code_sha256", name=op.f("pk_login_codes")),
    )
    with op.batch_alter_table("login_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_codes_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_codes_expires_at"))
    op.drop_table("login_codes")
