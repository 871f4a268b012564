"""/v1/stats, /v1/rankings/*, /v1/reviews over HTTP, on SQLite and PostgreSQL: answers
in the shapes /openapi.json documents, bad ranges and bodies as 400 problems, a second
decision as a 409, and the endpoints a 404 problem when no [store] is configured."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from moderation_core.service import create_app
from moderation_core.store import outbox
from tests.service.helpers import LOCAL_ONLY, running
from tests.store.audit_rows import T0, insert_checks, insert_review
from tests.store.conftest import database_url, store_engine  # noqa: F401 - fixtures
from tests.store.webhook_receiver import WebhookReceiver, first_pass

KEY = "test-api-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}


def store_config(url: str) -> dict[str, Any]:
    return {**LOCAL_ONLY, "serve": {"api_keys": [KEY]}, "store": {"url": url}}


@pytest.fixture
async def client(
    database_url: str,  # noqa: F811 - the fixture
    store_engine: sa.Engine,  # noqa: F811 - migrated before the app opens it
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(store_config(database_url))) as client:
        yield client


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:moderation-core:problem:{slug}"
    assert body["status"] == status
    return body


def matches(document: dict[str, Any], name: str, body: Any) -> None:
    jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    ).validate(body)


async def test_stats_and_rankings_answer_in_their_documented_shapes(
    client: httpx.AsyncClient,
    store_engine: sa.Engine,  # noqa: F811 - the fixture
) -> None:
    now = time.time()  # the endpoints' default range ends now
    insert_checks(
        store_engine,
        {"created_at": now - 60, "decision": "BLOCK", "label": "AD", "sender": "u1",
         "keywords": ["加微信"], "latency_ms": 12.0},
        {"created_at": now - 60, "decision": "BLOCK", "label": "AD", "sender": "u1",
         "keywords": ["加微信", "代购"], "latency_ms": 30.0},
        {"created_at": now - 30, "decision": "PASS", "sender": "u2", "cached": True},
        {"created_at": now - 3 * 86400, "decision": "BLOCK", "sender": "old"},
    )  # fmt: skip
    document = (await client.get("/openapi.json")).json()
    validate(document)

    figures = await client.get("/v1/stats", params={"by": "label"}, headers=AUTH)
    assert figures.status_code == 200, figures.text
    matches(document, "Stats", figures.json())
    assert figures.json()["total"] == 3
    assert figures.json()["buckets"][0] == {"key": "AD", "count": 2}
    assert figures.json()["cache_hit_rate"] == 1 / 3
    (tencent,) = figures.json()["providers"]
    assert (tencent["p50_ms"], tencent["p95_ms"]) == (12.0, 30.0)
    week = await client.get("/v1/stats", params={"since": "7d"}, headers=AUTH)
    assert week.json()["total"] == 4

    senders = await client.get("/v1/rankings/senders", headers=AUTH)
    assert senders.status_code == 200, senders.text
    matches(document, "SenderRanking", senders.json())
    assert [(s["sender"], s["blocked"]) for s in senders.json()["senders"]] == [("u1", 2)]

    keywords = await client.get(
        "/v1/rankings/keywords", params={"since": "7d", "limit": "1"}, headers=AUTH
    )
    assert keywords.status_code == 200, keywords.text
    matches(document, "KeywordRanking", keywords.json())
    assert keywords.json()["keywords"] == [{"keyword": "加微信", "count": 2}]


@pytest.mark.parametrize(
    ("path", "query", "mention"),
    [
        ("/v1/stats", "since=banana", "banana"),
        ("/v1/stats", "since=-5h", "-5h"),
        ("/v1/stats", "since=1h&until=2h", "empty"),
        ("/v1/stats", "since=2024-05-02&until=2024-05-01", "empty"),
        ("/v1/stats", "by=sender", "decision, label, provider, scene"),
        ("/v1/stats", "since=1h&since=2h", "twice"),
        ("/v1/stats", "sinse=1h", "sinse"),
        ("/v1/rankings/senders", "limit=0", "limit"),
        ("/v1/rankings/senders", "limit=abc", "whole number"),
        ("/v1/rankings/keywords", "limit=100000", "limit"),
        ("/v1/rankings/keywords", "limit=-3", "whole number"),
        ("/v1/reviews", "status=closed", "status"),
        ("/v1/reviews", "limit=501", "limit"),
        ("/v1/reviews", "after=x", "whole number"),
        ("/v1/reviews/1", "x=1", "unknown query parameter"),
    ],
)
async def test_a_bad_query_is_a_400_problem(
    client: httpx.AsyncClient, path: str, query: str, mention: str
) -> None:
    response = await client.get(f"{path}?{query}", headers=AUTH)
    body = problem(response, 400, "invalid-request")
    assert mention in body["detail"]


async def test_the_queue_pages_and_a_decision_is_sent_as_an_event(
    client: httpx.AsyncClient,
    store_engine: sa.Engine,  # noqa: F811 - the fixture
) -> None:
    ids = [insert_review(store_engine, opened_at=T0 + n, content=f"text {n}") for n in range(3)]
    document = (await client.get("/openapi.json")).json()

    first = await client.get("/v1/reviews", params={"limit": "2"}, headers=AUTH)
    assert first.status_code == 200, first.text
    matches(document, "ReviewPage", first.json())
    assert [item["id"] for item in first.json()["items"]] == ids[:2]
    assert first.json()["next"] == ids[1]
    rest = await client.get(
        "/v1/reviews", params={"limit": "2", "after": str(ids[1])}, headers=AUTH
    )
    assert [item["id"] for item in rest.json()["items"]] == ids[2:]
    assert rest.json()["next"] is None

    decided = await client.post(
        f"/v1/reviews/{ids[0]}",
        json={"decision": "reject", "reviewer": "ana", "note": "spam"},
        headers=AUTH,
    )
    assert decided.status_code == 200, decided.text
    matches(document, "ReviewItem", decided.json())
    assert decided.json()["status"] == "rejected"
    assert decided.json()["reviewer"] == "ana"
    assert decided.json()["note"] == "spam"
    one = await client.get(f"/v1/reviews/{ids[0]}", headers=AUTH)
    assert one.json() == decided.json()
    still_open = await client.get("/v1/reviews", headers=AUTH)
    assert [item["id"] for item in still_open.json()["items"]] == ids[1:]
    rejected = await client.get("/v1/reviews", params={"status": "rejected"}, headers=AUTH)
    assert [item["id"] for item in rejected.json()["items"]] == ids[:1]

    again = await client.post(
        f"/v1/reviews/{ids[0]}", json={"decision": "approve", "reviewer": "bob"}, headers=AUTH
    )
    assert "already rejected by ana" in problem(again, 409, "review-closed")["detail"]

    with store_engine.connect() as connection:
        events = connection.execute(sa.select(outbox.c.type, outbox.c.payload)).all()
    assert [(kind, data["id"], data["decision"]) for kind, data in events] == [
        ("review.decided", ids[0], "reject")
    ]
    figures = await client.get("/v1/stats", headers=AUTH)
    assert figures.json()["precision"][0]["upheld"] == 1


async def test_a_review_verdict_is_decided_and_the_app_told_by_its_webhook(
    database_url: str,  # noqa: F811 - the fixture
    store_engine: sa.Engine,  # noqa: F811 - migrated before the app opens it
) -> None:
    secret = "whsec-test-0123456789"
    with WebhookReceiver(secret) as receiver:
        config = store_config(database_url)
        config["serve"] = {**config["serve"], "notify": {"url": receiver.url, "secret": secret}}
        app = create_app(config)
        async with running(app) as client:
            checked = await client.post(
                "/v1/check",
                json={"contents": ["加我微信: abc12345"], "sender": "u9", "scene": "C2C"},
                headers=AUTH,
            )
            verdict = checked.json()["results"][0]["verdict"]
            assert verdict["decision"] == "REVIEW"
            assert app.state.service.store.flush(10.0)
            queue = (await client.get("/v1/reviews", headers=AUTH)).json()["items"]
            (item,) = queue
            assert item["check_id"] == verdict["check_id"]
            assert item["verdict"]["label"] == "AD"
            assert item["sender"] == "u9"
            assert item["content"] != "加我微信: abc12345"  # no keep_content: never the text

            decided = await client.post(
                f"/v1/reviews/{item['id']}",
                json={"decision": "approve", "reviewer": "ana"},
                headers=AUTH,
            )
            assert decided.status_code == 200, decided.text
            (received,) = await receiver.arrival(1)
        assert receiver.refused == []
        event = received.event
        assert event["type"] == "review.decided"
        assert event["id"] == received.event_id
        assert event["data"]["decision"] == "approve"
        assert event["data"]["check_id"] == verdict["check_id"]
        assert event["data"]["reviewer"] == "ana"


async def test_a_decision_is_sent_at_once_not_at_the_next_poll(
    database_url: str,  # noqa: F811 - the fixture
    store_engine: sa.Engine,  # noqa: F811 - migrated before the app opens it
) -> None:
    secret = "whsec-test-0123456789"
    review_id = insert_review(store_engine, check_id="c-wake", opened_at=T0)
    with WebhookReceiver(secret) as receiver:
        config = store_config(database_url)
        # An hour between polls: only the decision's own wake-up can send the event.
        notify = {"url": receiver.url, "secret": secret, "poll_interval": 3600}
        config["serve"] = {**config["serve"], "notify": notify}
        app = create_app(config)
        async with running(app) as client:
            await first_pass(app)
            decided = await client.post(
                f"/v1/reviews/{review_id}",
                json={"decision": "reject", "reviewer": "ana"},
                headers=AUTH,
            )
            assert decided.status_code == 200, decided.text
            (received,) = await receiver.arrival(1)
    assert received.event["type"] == "review.decided"
    assert received.event["data"]["check_id"] == "c-wake"


async def test_two_decisions_at_once_have_one_winner(
    client: httpx.AsyncClient,
    store_engine: sa.Engine,  # noqa: F811 - the fixture
) -> None:
    review_id = insert_review(store_engine)
    answers = await asyncio.gather(
        *(
            client.post(
                f"/v1/reviews/{review_id}",
                json={"decision": decision, "reviewer": f"r{n}"},
                headers=AUTH,
            )
            for n, decision in enumerate(["approve", "reject"] * 3)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5


@pytest.mark.parametrize(
    ("body", "mention"),
    [
        (b"{", "line 1"),
        (b"[]", "JSON object"),
        (json.dumps({"decision": "approve"}).encode(), "reviewer is required"),
        (json.dumps({"reviewer": "ana"}).encode(), "decision is required"),
        (json.dumps({"decision": "maybe", "reviewer": "ana"}).encode(), "approve"),
        (json.dumps({"decision": "approve", "reviewer": ""}).encode(), "reviewer is empty"),
        (json.dumps({"decision": "approve", "reviewer": 5}).encode(), "must be a string"),
        (json.dumps({"decision": ["x"], "reviewer": "ana"}).encode(), "approve"),
        (json.dumps({"decision": "approve", "reviewer": "a", "x": 1}).encode(), "unknown"),
        (b'{"decision": "approve", "reviewer": "\\ud800"}', "surrogate"),
        (json.dumps({"decision": "approve", "reviewer": "a", "note": 3}).encode(), "note"),
    ],
)
async def test_a_bad_decision_body_is_a_400_problem_and_changes_nothing(
    client: httpx.AsyncClient,
    store_engine: sa.Engine,  # noqa: F811 - the fixture
    body: bytes,
    mention: str,
) -> None:
    review_id = insert_review(store_engine)
    response = await client.post(f"/v1/reviews/{review_id}", content=body, headers=AUTH)
    detail = problem(response, 400, response.json()["type"].rsplit(":", 1)[1])["detail"]
    assert mention in detail
    assert (await client.get(f"/v1/reviews/{review_id}", headers=AUTH)).json()["status"] == "open"


async def test_unknown_items_are_404_problems(client: httpx.AsyncClient) -> None:
    for path in ("/v1/reviews/1", "/v1/reviews/99999999999999999999999"):
        problem(await client.get(path, headers=AUTH), 404, "not-found")
        decided = await client.post(
            path, json={"decision": "approve", "reviewer": "ana"}, headers=AUTH
        )
        problem(decided, 404, "not-found")
    problem(await client.get("/v1/reviews/abc", headers=AUTH), 404, "not-found")


async def test_the_endpoints_need_the_api_key(client: httpx.AsyncClient) -> None:
    for path in ("/v1/stats", "/v1/rankings/senders", "/v1/rankings/keywords", "/v1/reviews"):
        problem(await client.get(path), 401, "unauthorized")
    problem(
        await client.post("/v1/reviews/1", json={"decision": "approve", "reviewer": "a"}),
        401,
        "unauthorized",
    )


async def test_without_a_store_the_endpoints_are_404_problems() -> None:
    config = {**LOCAL_ONLY, "serve": {"api_keys": [KEY]}}
    async with running(create_app(config)) as client:
        for path in (
            "/v1/stats",
            "/v1/rankings/senders",
            "/v1/rankings/keywords",
            "/v1/reviews",
            "/v1/reviews/1",
        ):
            body = problem(await client.get(path, headers=AUTH), 404, "not-found")
            assert "no store configured" in body["detail"]
        decided = await client.post(
            "/v1/reviews/1", json={"decision": "approve", "reviewer": "a"}, headers=AUTH
        )
        problem(decided, 404, "not-found")
