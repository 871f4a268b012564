"""The store's tables, in SQLAlchemy Core: one definition for SQLite and PostgreSQL.

Times are Unix seconds (floats): the same arithmetic buckets them by hour on both
databases (``floor(at / 3600)``), and nothing depends on a server's time zone.
Changing a table means a new Alembic revision under ``migrations/versions``;
``tests/store/test_migrations.py`` checks that the migrations and this module agree.

    checks    one row per check or evaluate (the audit log); a PENDING check waits here
              for the vendor's callback, found by (provider, request_id)
    callbacks every vendor callback received, by its event id: the durable dedupe, and
              the orphans (callbacks for no known check)
    outbox    events for the app's webhook (check.completed, review.decided) until they
              are delivered; workers claim due rows with FOR UPDATE SKIP LOCKED
    reviews   REVIEW outcomes waiting for a person, and what the person decided
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["callbacks", "checks", "metadata", "outbox", "reviews"]

# Constraint names fixed by convention, so migrations name the same things on both databases.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

checks = sa.Table(
    "checks",
    metadata,
    sa.Column("check_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),  # check | evaluate
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),  # final | pending
    sa.Column("completed_at", sa.Float),  # when a pending check turned final
    sa.Column("scene", sa.String(256)),
    sa.Column("sender", sa.String(256)),
    sa.Column("receiver", sa.String(256)),
    sa.Column("content_type", sa.String(8), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),  # sha256 hex of type + value
    sa.Column("content", sa.Text),  # only with store.keep_content = true
    sa.Column("decision", sa.String(8)),  # None when the check failed (see error)
    sa.Column("label", sa.String(32)),
    sa.Column("sublabel", sa.String(256)),
    sa.Column("score", sa.Integer),
    sa.Column("keywords", sa.JSON, nullable=False, default=list),
    sa.Column("provider", sa.String(128)),
    sa.Column("request_id", sa.String(256)),  # the vendor's id; a callback finds its check by it
    sa.Column("latency_ms", sa.Float),
    sa.Column("failed_over", sa.Boolean, nullable=False, default=False),
    sa.Column("fallback", sa.Boolean, nullable=False, default=False),  # fail_mode decided
    sa.Column("cached", sa.Boolean, nullable=False, default=False),
    sa.Column("prefiltered", sa.Boolean, nullable=False, default=False),  # decided locally
    sa.Column("billable", sa.Integer, nullable=False, default=0),  # vendor items paid for
    sa.Column("action", sa.String(8)),  # the policy's action, for an evaluate
    sa.Column("error", sa.String(128)),  # the error type when no verdict came back
    sa.Column("verdict", sa.JSON),  # Verdict.to_dict(), as the API returns it
    sa.Index(None, "created_at"),
    sa.Index(None, "provider", "request_id"),
    sa.Index(None, "sender", "created_at"),
    sa.Index(None, "request_id"),  # 0002_s2: an orphaned callback finds its late check
)

callbacks = sa.Table(
    "callbacks",
    metadata,
    sa.Column("event_id", sa.String(256), primary_key=True),  # WebhookEvent.event_id
    sa.Column("provider_type", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(256)),
    sa.Column("check_id", sa.String(36)),  # None: orphaned (no known check)
    sa.Column("received_at", sa.Float, nullable=False),
    # 0002_s2: the vendor's verdict (Verdict.to_dict()), so an orphan can be adopted
    # when its pending check reaches the store after it.
    sa.Column("verdict", sa.JSON),
    sa.Index(None, "received_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),  # Moderation-Event-Id
    sa.Column("type", sa.String(32), nullable=False),  # check.completed | review.decided
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(10), nullable=False),  # pending | delivered | dead
    sa.Column("delivered_at", sa.Float),
    sa.Column("last_error", sa.String(512)),
    sa.Index(None, "status", "next_attempt_at"),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("check_id", sa.String(36), nullable=False, unique=True),
    sa.Column("status", sa.String(10), nullable=False),  # open | approved | rejected
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("decided_at", sa.Float),
    sa.Column("reviewer", sa.String(256)),
    sa.Column("note", sa.Text),
    # The verdict under review, kept here so the queue and the precision figures need no join.
    sa.Column("provider", sa.String(128)),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("label", sa.String(32)),
    sa.Column("sublabel", sa.String(256)),
    sa.Column("keywords", sa.JSON, nullable=False, default=list),
    sa.Column("sender", sa.String(256)),
    sa.Column("scene", sa.String(256)),
    sa.Column("content_type", sa.String(8), nullable=False),
    sa.Column("content", sa.Text),  # the content with keep_content, else its masked form or None
    sa.Index(None, "status", "opened_at"),
)
