"""The durable store (docs/store.md): audit log, media results that arrive later,
the outbox of the app's webhook, statistics and the review queue, in SQLite or
PostgreSQL through SQLAlchemy Core, with Alembic migrations."""

from __future__ import annotations

from ._engine import create_store_engine, shown_url, store_url, upgrade
from ._schema import callbacks, checks, metadata, outbox, reviews

__all__ = [
    "callbacks",
    "checks",
    "create_store_engine",
    "metadata",
    "outbox",
    "reviews",
    "shown_url",
    "store_url",
    "upgrade",
]
