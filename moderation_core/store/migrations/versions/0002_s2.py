"""Callbacks keep the vendor's verdict, and checks are found by request id alone

A media result can reach the store before its check does (the audit writer batches,
and spills to its journal while the database is away): the callback is kept as an
orphan with its verdict, and adopted when the pending check arrives. Adopting looks a
check up by the vendor's request id, hence the index.

Revision ID: 0002_s2
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_s2"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verdict", sa.JSON(), nullable=True))
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checks_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checks_request_id"))
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_column("verdict")
