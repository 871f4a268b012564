"""Shared by the page tests (test_pages.py over httpx, test_browser.py in Chromium): a
store seeded with REVIEW items and a day of checks, and the pages' login done by hand."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from moderation_core.store import checks, reviews
from tests.store.audit_rows import check_row

API_KEY = "pages-test-key-0123456789"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def seed_store(engine: sa.Engine, *, now: float | None = None) -> list[int]:
    """Three open REVIEW items (one with hostile content, sender and keyword), one
    decided item, and checks spread over the last hours for the charts. The open
    items' ids, oldest first."""
    at = time.time() if now is None else now
    rows: list[dict[str, Any]] = []
    for hours_ago, decision, label, sender, keywords, provider, latency in [
        (5, "PASS", "NORMAL", "alice", [], "tencent", 40.0),
        (4, "BLOCK", "AD", "spammer", ["加我微信"], "tencent", 55.0),
        (3, "BLOCK", "AD", "spammer", ["加我微信", "vx"], "huanxin", 90.0),
        (2, "REVIEW", "PORN", "bob", ["naughty"], "huanxin", 120.0),
        (1, "BLOCK", "ABUSE", HOSTILE, [HOSTILE], "tencent", 35.0),
        (0, "PASS", "NORMAL", "carol", [], "local", 1.0),
    ]:
        rows.append(
            check_row(
                created_at=at - hours_ago * 3600 - 60,
                decision=decision,
                label=label,
                sender=sender,
                keywords=keywords,
                provider=provider,
                latency_ms=latency,
                fallback=provider == "local",
            )
        )
    with engine.begin() as connection:
        connection.execute(sa.insert(checks), rows)
    open_items = [
        {
            "content": "hello naughty world",
            "keywords": ["naughty"],
            "sender": "bob",
            "label": "PORN",
            "provider": "huanxin",
        },
        {
            "content": HOSTILE,
            "keywords": [HOSTILE, "alert"],
            "sender": f'"><svg onload=alert(2)>{HOSTILE}',
            "label": "ABUSE",
            "provider": "tencent",
        },
        {
            "content": "buy now vx 123",
            "keywords": ["vx"],
            "sender": "spammer",
            "label": "AD",
            "provider": "tencent",
        },
    ]
    ids = []
    with engine.begin() as connection:
        for index, item in enumerate(open_items):
            inserted = connection.execute(
                sa.insert(reviews)
                .values(
                    check_id=str(uuid.uuid4()),
                    status="open",
                    opened_at=at - 3600 + index,
                    decision="REVIEW",
                    scene="Group",
                    content_type="text",
                    **item,
                )
                .returning(reviews.c.id)
            )
            ids.append(int(inserted.scalar_one()))
        connection.execute(
            sa.insert(reviews).values(
                check_id=str(uuid.uuid4()),
                status="rejected",
                opened_at=at - 7200,
                decided_at=at - 7000,
                reviewer="dora",
                decision="REVIEW",
                label="AD",
                provider="tencent",
                keywords=[],
                content_type="text",
            )
        )
    return ids


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "the page has no CSRF field"
    return match[1]


async def log_in(client: httpx.AsyncClient, key: str = API_KEY) -> httpx.Response:
    """GET /login (a session and its token), then POST the key; the POST's answer."""
    page = await client.get("/login")
    assert page.status_code == 200
    return await client.post(
        "/login", data={"key": key, "csrf": csrf_of(page.text), "next": "/review"}
    )


def review_row(engine: sa.Engine, item_id: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.select(reviews).where(reviews.c.id == item_id)).one()
