"""/login, /logout, /review and /dashboard over HTTP (httpx against the app, a store on
SQLite and on PostgreSQL): the login and its cookie, redirects, CSRF refusals, hostile
content escaped, and a review decided through the form. The same pages in a real
browser: test_browser.py."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from moderation_core.service import create_app
from moderation_core.service.pages._session import COOKIE_NAME, Session, SessionSigner
from moderation_core.store import outbox
from tests.service.helpers import LOCAL_ONLY, LOOPBACK, running
from tests.service.pages_helpers import (
    API_KEY,
    HOSTILE,
    csrf_of,
    log_in,
    review_row,
    seed_store,
)
from tests.store.conftest import database_url, store_engine  # noqa: F401 - fixtures

STATIC = Path(__file__).parents[2] / "moderation_core" / "service" / "pages" / "static"


def _config(url: str, *, keys: bool = True) -> dict[str, Any]:
    config: dict[str, Any] = {
        "providers": {"local": {"type": "local"}},
        "store": {"url": url},
    }
    if keys:
        config["serve"] = {"api_keys": [API_KEY]}
    return config


@pytest.fixture
def seeded(
    store_engine: sa.Engine,  # noqa: F811 - the fixture imported above
) -> tuple[sa.Engine, list[int]]:
    return store_engine, seed_store(store_engine)


@pytest.fixture
async def client(
    database_url: str,  # noqa: F811 - the fixture imported above
    seeded: tuple[sa.Engine, list[int]],
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(_config(database_url))) as client:
        yield client


def _cookie_header(response: httpx.Response) -> str:
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie")


def _script_data(page: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S
    )
    assert match is not None
    data: dict[str, Any] = json.loads(match[1])
    return data


async def test_pages_redirect_to_login_without_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/review", "/dashboard"):
        answer = await client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next={path}"
    assert (await client.post("/review", data={"id": "1"})).status_code == 303


async def test_login_sets_a_signed_strict_httponly_cookie(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    assert "content-security-policy" in page.headers
    cookie = _cookie_header(page).lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie

    wrong = await log_in(client, key="not-the-key")
    assert wrong.status_code == 401
    assert "not one of this server" in wrong.text
    assert (await client.get("/review")).status_code == 303

    right = await log_in(client)
    assert right.status_code == 303
    assert right.headers["location"] == "/review"
    assert "httponly" in _cookie_header(right).lower()
    assert (await client.get("/review")).status_code == 200
    assert (await client.get("/dashboard")).status_code == 200


async def test_login_goes_only_to_a_page_of_ours(client: httpx.AsyncClient) -> None:
    page = await client.get("/login", params={"next": "https://evil.example/"})
    answer = await client.post(
        "/login",
        data={"key": API_KEY, "csrf": csrf_of(page.text), "next": "//evil.example/"},
    )
    assert answer.headers["location"] == "/review"


async def test_login_without_its_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/login")
    answer = await client.post("/login", data={"key": API_KEY, "csrf": "guess"})
    assert answer.status_code == 403
    assert (await client.get("/review")).status_code == 303


async def test_a_decision_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, seeded: tuple[sa.Engine, list[int]]
) -> None:
    engine, ids = seeded
    await log_in(client)
    form = {"id": str(ids[0]), "decision": "approve", "reviewer": "eve"}
    for token in (None, "", "wrong-token"):
        data = form if token is None else {**form, "csrf": token}
        answer = await client.post("/review", data=data)
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    # Not a form at all: refused the same way.
    answer = await client.post("/review", json=form)
    assert answer.status_code == 403
    assert review_row(engine, ids[0]).status == "open"


async def test_a_forged_or_expired_cookie_is_no_session(
    client: httpx.AsyncClient, seeded: tuple[sa.Engine, list[int]]
) -> None:
    await log_in(client)
    good = client.cookies[COOKIE_NAME]
    body, _, signature = good.rpartition(".")
    client.cookies.set(COOKIE_NAME, f"{body}.{'0' * len(signature)}")
    assert (await client.get("/review")).status_code == 303

    # Signed with the right key, but issued 13 hours ago.
    from moderation_core._model import Secret  # noqa: PLC0415

    old = SessionSigner([Secret(API_KEY)], clock=lambda: 0.0)
    stale = Session.fresh(1_000.0, logged_in=True)
    client.cookies.set(COOKIE_NAME, old.dumps(stale))
    assert (await client.get("/review")).status_code == 303

    # Signed with another server's keys.
    other = SessionSigner([Secret("another-key")], clock=lambda: 0.0)
    import time  # noqa: PLC0415

    client.cookies.set(COOKIE_NAME, other.dumps(Session.fresh(time.time(), logged_in=True)))
    assert (await client.get("/review")).status_code == 303


async def test_hostile_content_is_escaped_everywhere(client: httpx.AsyncClient) -> None:
    await log_in(client)
    for path in ("/review", "/review?item=2", "/dashboard"):
        page = (await client.get(path)).text
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "<svg onload" not in page
    second = (await client.get("/review")).text
    # The item list shows the hostile sender as text.
    assert html.escape('"><svg onload=alert(2)>', quote=True) in second or (
        "&#34;&gt;&lt;svg onload=alert(2)&gt;" in second
    )
    dashboard = (await client.get("/dashboard")).text
    data = _script_data(dashboard)
    assert HOSTILE in data["senders"]["labels"]
    assert HOSTILE in data["keywords"]["labels"]


async def test_the_hostile_item_is_shown_as_text_with_its_keywords_marked(
    client: httpx.AsyncClient, seeded: tuple[sa.Engine, list[int]]
) -> None:
    _, ids = seeded
    await log_in(client)
    page = (await client.get("/review", params={"item": ids[1]})).text
    content = page[page.index('id="content"') : page.index("</div>", page.index('id="content"'))]
    assert "<mark>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in content
    assert "<script" not in content


async def test_deciding_records_it_and_moves_to_the_next_item(
    client: httpx.AsyncClient, seeded: tuple[sa.Engine, list[int]]
) -> None:
    engine, ids = seeded
    await log_in(client)
    page = await client.get("/review")
    assert f'data-id="{ids[0]}"' in page.text
    assert "hello <mark>naughty</mark> world" in page.text
    answer = await client.post(
        "/review",
        data={
            "csrf": csrf_of(page.text),
            "id": str(ids[0]),
            "next": str(ids[1]),
            "decision": "approve",
            "reviewer": "mia",
            "note": "a joke",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/review?decided={ids[0]}&decision=approve&item={ids[1]}"
    row = review_row(engine, ids[0])
    assert (row.status, row.reviewer, row.note) == ("approved", "mia", "a joke")
    with engine.connect() as connection:
        events = connection.execute(sa.select(outbox.c.type, outbox.c.payload)).all()
    assert [event.type for event in events] == ["review.decided"]

    following = await client.get(answer.headers["location"])
    assert f"Item #{ids[0]} approved." in following.text
    assert f'<section class="item" id="item" data-id="{ids[1]}">' in following.text
    assert 'value="mia"' in following.text  # the reviewer's name is remembered
    assert f'data-id="{ids[0]}"' not in following.text  # it left the queue

    again = await client.post(
        "/review",
        data={
            "csrf": csrf_of(following.text),
            "id": str(ids[0]),
            "decision": "reject",
            "reviewer": "mia",
        },
    )
    assert again.status_code == 409
    assert review_row(engine, ids[0]).status == "approved"


async def test_a_bad_decision_form_is_a_400(
    client: httpx.AsyncClient, seeded: tuple[sa.Engine, list[int]]
) -> None:
    engine, ids = seeded
    await log_in(client)
    csrf = csrf_of((await client.get("/review")).text)
    base = {"csrf": csrf, "id": str(ids[0]), "decision": "approve", "reviewer": "mia"}
    for change in (
        {"decision": "maybe"},
        {"reviewer": "  "},
        {"id": "x"},
        {"reviewer": "x" * 300},
        {"reviewer": "nul\x00"},
    ):
        assert (await client.post("/review", data={**base, **change})).status_code == 400
    assert (await client.post("/review", data={**base, "id": "999999"})).status_code == 404
    assert review_row(engine, ids[0]).status == "open"


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    await log_in(client)
    page = await client.get("/review")
    assert (await client.post("/logout", data={"csrf": "wrong"})).status_code == 403
    answer = await client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert (await client.get("/review")).status_code == 303


async def test_the_dashboard_carries_every_chart_s_data(client: httpx.AsyncClient) -> None:
    await log_in(client)
    page = await client.get("/dashboard", params={"since": "24h"})
    assert page.status_code == 200
    data = _script_data(page.text)
    assert set(data) == {"hourly", "latency", "rates", "senders", "keywords", "precision"}
    hourly_total = sum(sum(d["data"]) for d in data["hourly"]["datasets"])
    assert hourly_total == 6
    assert {d["label"] for d in data["hourly"]["datasets"]} == {"NORMAL", "AD", "PORN", "ABUSE"}
    assert data["latency"]["labels"][:2] == ["tencent", "huanxin"]
    assert data["senders"]["labels"][0] == "spammer"
    assert data["keywords"]["labels"][0] == "加我微信"
    assert data["precision"]["datasets"][0]["data"] == [100.0]
    for name in data:
        assert f'id="chart-{name}"' in page.text
    assert (await client.get("/dashboard", params={"since": "10y"})).status_code == 400


async def test_the_json_api_still_needs_its_bearer_key(client: httpx.AsyncClient) -> None:
    await log_in(client)  # a page session is no API key
    answer = await client.post("/v1/check", json={"contents": ["hi"]})
    assert answer.status_code == 401


async def test_static_files_are_served_without_a_session() -> None:
    async with running(create_app({**LOCAL_ONLY, "serve": {"api_keys": [API_KEY]}})) as client:
        chart = await client.get("/pages/static/chart.umd.js")
        assert chart.status_code == 200
        assert chart.text.startswith("/*!\n * Chart.js v4.")
        assert "Released under the MIT License" in chart.text[:200]
        for sneaky in (
            "/pages/static/%2e%2e/%2e%2e/_pages.py",
            "/pages/static/%2e%2e/templates/base.html",
        ):
            assert (await client.get(sneaky)).status_code == 404
    assert (STATIC / "chart.js-LICENSE.md").is_file()
    # docs/review.md names the version shipped.
    shipped = re.search(r"Chart\.js v(\S+)", (STATIC / "chart.umd.js").read_text()[:200])
    docs = (Path(__file__).parents[2] / "docs" / "review.md").read_text(encoding="utf-8")
    assert shipped is not None
    assert f"chart.js@{shipped[1]}" in docs


async def test_without_api_keys_there_is_no_login_on_loopback(
    database_url: str,  # noqa: F811 - the fixture imported above
    seeded: tuple[sa.Engine, list[int]],
) -> None:
    engine, ids = seeded
    config = _config(database_url, keys=False)
    async with running(create_app(config)) as client:
        assert (await client.get("/login")).status_code == 303
        page = await client.get("/review")
        assert page.status_code == 200
        assert f'data-id="{ids[0]}"' in page.text
        assert 'action="/logout"' not in page.text
        # Still a CSRF token on every form.
        form = {"id": str(ids[0]), "decision": "approve", "reviewer": "mia"}
        assert (await client.post("/review", data=form)).status_code == 403
        answer = await client.post("/review", data={**form, "csrf": csrf_of(page.text)})
        assert answer.status_code == 303
        assert review_row(engine, ids[0]).status == "approved"
    # Called from elsewhere, a server without keys answers nothing.
    app = create_app(config)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 5000)),
            base_url="http://203.0.113.1:8080",
        ) as remote,
    ):
        assert (await remote.get("/review")).status_code == 403
        assert (await remote.get("/login")).status_code == 403
        assert (await remote.get("/dashboard")).status_code == 403


async def test_mounted_under_a_prefix_the_pages_stay_under_it(
    database_url: str,  # noqa: F811 - the fixture imported above
    seeded: tuple[sa.Engine, list[int]],
) -> None:
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.routing import Mount  # noqa: PLC0415

    inner = create_app(_config(database_url))
    outer = Starlette(routes=[Mount("/moderation", inner)])
    async with (
        inner.router.lifespan_context(inner),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url=LOOPBACK) as client,
    ):
        answer = await client.get("/moderation/review")
        assert answer.headers["location"] == "/moderation/login?next=/review"
        page = await client.get("/moderation/login")
        assert 'action="/moderation/login"' in page.text
        assert 'href="/moderation/pages/static/pages.css"' in page.text
        assert "path=/moderation" in _cookie_header(page).lower()
        logged = await client.post(
            "/moderation/login", data={"key": API_KEY, "csrf": csrf_of(page.text)}
        )
        assert logged.headers["location"] == "/moderation/review"
        review = await client.get("/moderation/review")
        assert review.status_code == 200
        assert 'data-base="/moderation/review"' in review.text
        assert (await client.get("/moderation/pages/static/review.js")).status_code == 200


@pytest.mark.parametrize(
    "text",
    ["</script><script>alert(1)</script>", "<!--", "a\u2028b", "&lt;", '"><svg/onload=1>'],
)
def test_chart_data_cannot_leave_its_script_block(text: str) -> None:
    from moderation_core.service.pages._render import json_for_script  # noqa: PLC0415

    shown = str(json_for_script({"labels": [text]}))
    assert "<" not in shown
    assert ">" not in shown
    assert "&" not in shown
    assert "\u2028" not in shown
    assert json.loads(shown) == {"labels": [text]}


def test_keywords_are_marked_in_escaped_text() -> None:
    from moderation_core.service.pages._render import highlight  # noqa: PLC0415

    assert str(highlight("a <b> ab", ["<b>", "a"])) == (
        "<mark>a</mark> <mark>&lt;b&gt;</mark> <mark>a</mark>b"
    )
    assert str(highlight("vx vxx", ["vx", "vxx", 3, ""])) == "<mark>vx</mark> <mark>vxx</mark>"
    assert str(highlight("x" * 6000, ["x"])).count("<mark>") == 5000
    assert str(highlight(None, ["a"])) == ""
