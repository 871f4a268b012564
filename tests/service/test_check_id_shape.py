"""``GET /v1/checks/{check_id}`` with an id that is no UUID (review R1 #7), on both
databases: a 404 problem without asking the database. PostgreSQL refused a NUL in
the id as an error, which was answered 503 "store unavailable" for a healthy store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from moderation_core.service import create_app
from tests.service.helpers import running
from tests.service.test_store_api import (
    AUTH,
    client,  # noqa: F401 - the fixture
    migrated,
    problem,
    store_config,
)
from tests.store.conftest import database_url  # noqa: F401 - the fixture
from tests.store.outage import Outage

UNKNOWN = "00000000-0000-4000-8000-000000000000"  # UUID-shaped: looked up


@pytest.mark.parametrize(
    "check_id",
    ["%00", "a%00b", "0" * 36, "not-a-uuid", "6F9619FF-8B86-D011-B42D-00C04FC964FF" + "x"],
)
async def test_an_id_that_is_no_uuid_is_a_404(
    client: httpx.AsyncClient,  # noqa: F811 - the fixture imported above
    check_id: str,
) -> None:
    body = problem(await client.get(f"/v1/checks/{check_id}", headers=AUTH), 404, "not-found")
    assert "UUID" in body["detail"]


async def test_an_id_that_is_no_uuid_is_a_404_even_with_the_database_away(
    database_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    outage = Outage(database_url, tmp_path)
    try:
        migrated(outage.url, tmp_path)
        async with running(create_app(store_config(outage.url, tmp_path))) as client:
            outage.down()
            answer = await client.get("/v1/checks/%00", headers=AUTH)
            unknown = await client.get(
                f"/v1/checks/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=AUTH
            )
    finally:
        outage.close()
    problem(answer, 404, "not-found")  # never asked the database
    problem(unknown, 503, "store-unavailable")  # a real id needs it
