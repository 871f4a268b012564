"""The review queue on both databases: paging, decisions recorded together with their
``review.decided`` event, one winner among concurrent decisions, and bad arguments
refused before anything changes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from moderation_core._errors import InvalidContent
from moderation_core.store import outbox, reviews
from moderation_core.store._reviews import (
    ReviewClosed,
    ReviewItem,
    ReviewNotFound,
    ReviewQueue,
)

from .audit_rows import T0, insert_review

DECIDED_AT = T0 + 60


def queue(engine: sa.Engine) -> ReviewQueue:
    return ReviewQueue(engine, clock=lambda: DECIDED_AT)


def outbox_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(outbox).order_by(outbox.c.id)).all()
    return [dict(row._mapping) for row in rows]


def test_list_pages_through_open_items_oldest_first(store_engine: sa.Engine) -> None:
    ids = [insert_review(store_engine, opened_at=T0 + n) for n in range(5)]
    insert_review(store_engine, status="rejected", decided_at=T0, reviewer="ana")
    items = queue(store_engine)
    first = items.list(limit=2)
    assert [item.id for item in first] == ids[:2]
    second = items.list(limit=2, after=first[-1].id)
    third = items.list(limit=2, after=second[-1].id)
    assert [item.id for item in second + third] == ids[2:]
    assert items.list(limit=2, after=ids[-1]) == []
    assert items.count() == 5
    assert items.count("rejected") == 1
    assert items.count("all") == 6
    assert [item.status for item in items.list("rejected")] == ["rejected"]
    assert len(items.list("all")) == 6
    assert items.list(after=2**40) == []


def test_an_item_carries_the_verdict_and_its_context(store_engine: sa.Engine) -> None:
    review_id = insert_review(
        store_engine,
        check_id="c-1",
        provider="huanxin",
        decision="BLOCK",
        label="AD",
        sublabel="wechat",
        keywords=["加微信"],
        sender="u1",
        scene="C2C",
        content="加微信 ***",
    )
    item = queue(store_engine).get(review_id)
    assert item.to_dict() == {
        "id": review_id,
        "check_id": "c-1",
        "status": "open",
        "opened_at": T0,
        "decided_at": None,
        "reviewer": None,
        "note": None,
        "verdict": {
            "provider": "huanxin",
            "decision": "BLOCK",
            "label": "AD",
            "sublabel": "wechat",
            "keywords": ["加微信"],
        },
        "sender": "u1",
        "scene": "C2C",
        "content_type": "text",
        "content": "加微信 ***",
    }
    assert "加微信 ***" not in repr(item)


@pytest.mark.parametrize(("decision", "status"), [("approve", "approved"), ("reject", "rejected")])
def test_a_decision_is_recorded_with_its_event(
    store_engine: sa.Engine, decision: str, status: str
) -> None:
    review_id = insert_review(store_engine, check_id="c-2", content="secret text")
    item = queue(store_engine).decide(review_id, decision, "ana", note="looked twice")
    assert (item.status, item.reviewer, item.note, item.decided_at) == (
        status,
        "ana",
        "looked twice",
        DECIDED_AT,
    )
    assert queue(store_engine).get(review_id) == item
    assert queue(store_engine).count() == 0
    (event,) = outbox_rows(store_engine)
    assert event["type"] == "review.decided"
    assert event["status"] == "pending"
    assert event["created_at"] == DECIDED_AT
    assert event["payload"]["decision"] == decision
    assert event["payload"]["id"] == review_id
    assert event["payload"]["check_id"] == "c-2"
    assert event["payload"]["status"] == status
    assert event["payload"]["reviewer"] == "ana"
    assert event["payload"]["verdict"]["label"] == "PORN"
    assert "content" not in event["payload"]  # personal data stays in the store


def test_a_closed_item_is_not_decided_again(store_engine: sa.Engine) -> None:
    review_id = insert_review(store_engine)
    items = queue(store_engine)
    items.decide(review_id, "reject", "ana")
    with pytest.raises(ReviewClosed, match="already rejected by ana") as caught:
        items.decide(review_id, "approve", "bob")
    assert caught.value.item.reviewer == "ana"
    assert items.get(review_id).status == "rejected"
    assert len(outbox_rows(store_engine)) == 1


def test_an_unknown_item_is_not_found(store_engine: sa.Engine) -> None:
    items = queue(store_engine)
    for review_id in (1, 0, -1, 2**31, 2**63):
        with pytest.raises(ReviewNotFound):
            items.get(review_id)
        with pytest.raises(ReviewNotFound):
            items.decide(review_id, "approve", "ana")
    assert outbox_rows(store_engine) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"decision": "maybe"}, "approve .* or reject"),
        ({"decision": "APPROVE"}, "approve .* or reject"),
        ({"reviewer": ""}, "reviewer is empty"),
        ({"reviewer": "   "}, "reviewer is empty"),
        ({"reviewer": 7}, "reviewer must be a string"),
        ({"reviewer": "x" * 257}, "at most 256"),
        ({"reviewer": "\ud800"}, "lone surrogate"),
        ({"note": "a\x00b"}, "NUL"),
        ({"note": "n" * 4001}, "at most 4000"),
        ({"note": ["x"]}, "note must be a string"),
    ],
)
def test_a_bad_decision_changes_nothing(
    store_engine: sa.Engine, arguments: dict[str, Any], message: str
) -> None:
    review_id = insert_review(store_engine)
    call = {"decision": "reject", "reviewer": "ana", "note": None} | arguments
    with pytest.raises(InvalidContent, match=message):
        queue(store_engine).decide(review_id, **call)
    assert queue(store_engine).get(review_id).status == "open"
    assert outbox_rows(store_engine) == []


@pytest.mark.parametrize(("arguments"), [{"status": "closed"}, {"limit": 0}, {"limit": 501}])
def test_a_bad_listing_is_invalid(store_engine: sa.Engine, arguments: dict[str, Any]) -> None:
    with pytest.raises(InvalidContent):
        queue(store_engine).list(**arguments)


def test_concurrent_decisions_have_exactly_one_winner(store_engine: sa.Engine) -> None:
    review_id = insert_review(store_engine)
    reviewers = [f"reviewer-{n}" for n in range(6)]
    start = threading.Barrier(len(reviewers))
    won: list[ReviewItem] = []
    closed: list[ReviewClosed] = []
    failed: list[BaseException] = []

    def decide(reviewer: str) -> None:
        items = queue(store_engine)
        start.wait()
        try:
            won.append(items.decide(review_id, "reject", reviewer))
        except ReviewClosed as exc:
            closed.append(exc)
        except BaseException as exc:  # reported by the assertion below
            failed.append(exc)

    threads = [threading.Thread(target=decide, args=(name,)) for name in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert len(won) == 1
    assert len(closed) == len(reviewers) - 1
    assert {exc.item.reviewer for exc in closed} == {won[0].reviewer}
    events = outbox_rows(store_engine)
    assert [event["payload"]["reviewer"] for event in events] == [won[0].reviewer]
    with store_engine.connect() as connection:
        reviewer = connection.execute(
            sa.select(reviews.c.reviewer).where(reviews.c.id == review_id)
        ).scalar_one()
    assert reviewer == won[0].reviewer
