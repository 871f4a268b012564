"""Rows written straight into the store's tables, for the tests of what reads them
(statistics, rankings, the review queue): each test states only the columns it is
about, the rest are plausible defaults."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import sqlalchemy as sa

from moderation_core.store import checks, reviews

T0 = 1_700_000_000.0  # a fixed "now" for the tests' clocks: 2023-11-14T22:13:20Z


def check_row(**columns: Any) -> dict[str, Any]:
    check_id = columns.pop("check_id", str(uuid.uuid4()))
    # Every column, so that rows of different shapes insert in one executemany.
    row: dict[str, Any] = dict.fromkeys(checks.c.keys())
    row |= {
        "check_id": check_id,
        "kind": "check",
        "created_at": T0,
        "status": "final",
        "content_type": "text",
        "content_hash": hashlib.sha256(check_id.encode()).hexdigest(),
        "decision": "PASS",
        "label": "NORMAL",
        "keywords": [],
        "provider": "tencent",
        "latency_ms": 10.0,
        "failed_over": False,
        "fallback": False,
        "cached": False,
        "prefiltered": False,
        "billable": 1,
    }
    row.update(columns)
    return row


def insert_checks(engine: sa.Engine, *rows: dict[str, Any]) -> list[str]:
    """Insert ``check_row(**columns)`` for each mapping; the check ids, in order."""
    full = [check_row(**row) for row in rows]
    with engine.begin() as connection:
        connection.execute(sa.insert(checks), full)
    return [row["check_id"] for row in full]


def review_row(**columns: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "check_id": str(uuid.uuid4()),
        "status": "open",
        "opened_at": T0,
        "provider": "tencent",
        "decision": "REVIEW",
        "label": "PORN",
        "keywords": [],
        "content_type": "text",
    }
    row.update(columns)
    return row


def insert_review(engine: sa.Engine, **columns: Any) -> int:
    """One reviews row; its id."""
    with engine.begin() as connection:
        inserted = connection.execute(
            sa.insert(reviews).values(**review_row(**columns)).returning(reviews.c.id)
        )
        return int(inserted.scalar_one())
