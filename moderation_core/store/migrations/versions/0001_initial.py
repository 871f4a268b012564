"""The store's first tables: checks, callbacks, outbox, reviews

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("provider_type", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=256), nullable=True),
        sa.Column("check_id", sa.String(length=36), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_callbacks")),
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callbacks_received_at"), ["received_at"], unique=False)

    op.create_table(
        "checks",
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("completed_at", sa.Float(), nullable=True),
        sa.Column("scene", sa.String(length=256), nullable=True),
        sa.Column("sender", sa.String(length=256), nullable=True),
        sa.Column("receiver", sa.String(length=256), nullable=True),
        sa.Column("content_type", sa.String(length=8), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=True),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.Column("sublabel", sa.String(length=256), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("provider", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=256), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("failed_over", sa.Boolean(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("prefiltered", sa.Boolean(), nullable=False),
        sa.Column("billable", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=True),
        sa.Column("error", sa.String(length=128), nullable=True),
        sa.Column("verdict", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("check_id", name=op.f("pk_checks")),
    )
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checks_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_checks_provider_request_id"), ["provider", "request_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_checks_sender_created_at"), ["sender", "created_at"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_status_next_attempt_at"),
            ["status", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("reviewer", sa.String(length=256), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(length=128), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.Column("sublabel", sa.String(length=256), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("sender", sa.String(length=256), nullable=True),
        sa.Column("scene", sa.String(length=256), nullable=True),
        sa.Column("content_type", sa.String(length=8), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("check_id", name=op.f("uq_reviews_check_id")),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reviews_status_opened_at"), ["status", "opened_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviews_status_opened_at"))

    op.drop_table("reviews")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_status_next_attempt_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checks_sender_created_at"))
        batch_op.drop_index(batch_op.f("ix_checks_provider_request_id"))
        batch_op.drop_index(batch_op.f("ix_checks_created_at"))

    op.drop_table("checks")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_received_at"))

    op.drop_table("callbacks")
