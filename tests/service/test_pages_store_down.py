"""/review and /dashboard while the store's database is away (review R1 #6), on both
databases: each page answers its own 503 page saying to try again, never the JSON
internal-error problem, and the log names the error's type without a traceback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from moderation_core.service import create_app
from moderation_core.store import create_store_engine, store_url
from tests.service.helpers import running
from tests.service.pages_helpers import API_KEY, csrf_of, log_in, review_row, seed_store
from tests.store.conftest import database_url  # noqa: F401 - the fixture
from tests.store.outage import Outage


@pytest.fixture
def outage(
    database_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> Iterator[Outage]:
    made = Outage(database_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
async def client(outage: Outage, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config: dict[str, Any] = {
        "providers": {"local": {"type": "local"}},
        "serve": {"api_keys": [API_KEY]},
        "store": {"url": outage.url, "journal": str(tmp_path / "journal"), "auto_upgrade": True},
    }
    async with running(create_app(config)) as client:
        yield client


@pytest.fixture
def app_engine(client: httpx.AsyncClient, outage: Outage) -> Iterator[sa.Engine]:
    """The app's database, the way the app reaches it (the app made the schema)."""
    engine = create_store_engine(store_url(outage.url))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def seeded(app_engine: sa.Engine) -> list[int]:
    return seed_store(app_engine)


def assert_store_down_page(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "Store unavailable" in response.text
    assert "try again" in response.text
    assert "Traceback" not in response.text


async def test_the_pages_say_the_store_is_unavailable_while_it_is_away(
    client: httpx.AsyncClient,
    outage: Outage,
    seeded: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await log_in(client)
    review = await client.get("/review")
    assert review.status_code == 200
    token = csrf_of(review.text)
    outage.down()
    with caplog.at_level(logging.DEBUG):
        for path in ("/review", "/dashboard"):
            assert_store_down_page(await client.get(path))
        decided = await client.post(
            "/review",
            data={"csrf": token, "id": str(seeded[0]), "decision": "reject", "reviewer": "eve"},
        )
    assert_store_down_page(decided)
    assert f"Review item #{seeded[0]} was not decided" in decided.text
    told = [r for r in caplog.records if r.name == "moderation_core.service.pages"]
    assert len(told) == 3
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)
    assert all("did not answer (OperationalError)" in r.getMessage() for r in told)
    outage.up()
    again = await client.get("/review")  # back by itself
    assert again.status_code == 200


async def test_a_nul_in_the_reviewer_s_name_is_a_bad_form(
    client: httpx.AsyncClient,
    seeded: list[int],
    app_engine: sa.Engine,
) -> None:
    await log_in(client)
    token = csrf_of((await client.get("/review")).text)
    refused = await client.post(
        "/review",
        data={"csrf": token, "id": str(seeded[0]), "decision": "reject", "reviewer": "e\x00ve"},
    )
    assert refused.status_code == 400
    assert "NUL" in refused.text
    assert review_row(app_engine, seeded[0]).status == "open"
