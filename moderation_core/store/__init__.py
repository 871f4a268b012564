"""The durable store (docs/store.md): audit log, media results that arrive later,
the outbox of the app's webhook, statistics and the review queue, in SQLite or
PostgreSQL through SQLAlchemy Core, with Alembic migrations."""

from __future__ import annotations

from moderation_core._errors import ReviewClosed, ReviewNotFound, StoreUnavailable

from ._engine import create_store_engine, shown_url, store_url, upgrade
from ._open import open_engine
from ._outbox import CHECK_COMPLETED, REVIEW_DECIDED, OutboxDelivery, RetrySchedule
from ._records import AuditRecord, StoredCheck, content_hash
from ._reviews import ReviewItem, ReviewQueue
from ._schema import callbacks, checks, metadata, outbox, reviews
from ._settings import StoreSettings, store_settings
from ._stats import (
    StoreUnreadable,
    hourly,
    keyword_ranking,
    parse_range,
    sender_ranking,
    stats,
)
from ._store import SchemaBehind, Store, head_revision

__all__ = [
    "CHECK_COMPLETED",
    "REVIEW_DECIDED",
    "AuditRecord",
    "OutboxDelivery",
    "RetrySchedule",
    "ReviewClosed",
    "ReviewItem",
    "ReviewNotFound",
    "ReviewQueue",
    "SchemaBehind",
    "Store",
    "StoreSettings",
    "StoreUnavailable",
    "StoreUnreadable",
    "StoredCheck",
    "callbacks",
    "checks",
    "content_hash",
    "create_store_engine",
    "head_revision",
    "hourly",
    "keyword_ranking",
    "metadata",
    "open_engine",
    "outbox",
    "parse_range",
    "reviews",
    "sender_ranking",
    "shown_url",
    "stats",
    "store_settings",
    "store_url",
    "upgrade",
]
