"""The durable store (docs/store.md): audit log, media results that arrive later,
the outbox of the app's webhook, statistics and the review queue, in SQLite or
PostgreSQL through SQLAlchemy Core, with Alembic migrations."""

from __future__ import annotations

from ._engine import create_store_engine, shown_url, store_url, upgrade
from ._records import AuditRecord, StoredCheck, content_hash
from ._schema import callbacks, checks, metadata, outbox, reviews
from ._settings import StoreSettings, store_settings
from ._store import SchemaBehind, Store, StoreUnavailable, head_revision

__all__ = [
    "AuditRecord",
    "SchemaBehind",
    "Store",
    "StoreSettings",
    "StoreUnavailable",
    "StoredCheck",
    "callbacks",
    "checks",
    "content_hash",
    "create_store_engine",
    "head_revision",
    "metadata",
    "outbox",
    "reviews",
    "shown_url",
    "store_settings",
    "store_url",
    "upgrade",
]
