"""``GET /v1/checks/{check_id}``, ``check_id`` in the answers of /v1/check and
/v1/evaluate, /readyz naming the store, and serve's schema handling at start (SQLite
upgraded, PostgreSQL behind: a ConfigError saying to run ``moderation db upgrade``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from moderation_core._cli import main
from moderation_core._errors import ConfigError
from moderation_core.service import create_app
from moderation_core.store import Store, StoreSettings, checks, head_revision, outbox
from moderation_core.store._outbox import enqueue
from moderation_core.store._store import SchemaBehind
from tests.service.helpers import LOCAL_ONLY, running, write_toml
from tests.store.conftest import database_url  # noqa: F401 - the fixture
from tests.store.outage import Outage

KEY = "test-api-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}


def store_config(url: str, tmp_path: Path, **store: Any) -> dict[str, Any]:
    table = {"url": url, "journal": str(tmp_path / "journal"), **store}
    return {**LOCAL_ONLY, "serve": {"api_keys": [KEY]}, "store": table}


def migrated(url: str, tmp_path: Path) -> None:
    Store.open(StoreSettings(url=url, journal=str(tmp_path / "j"), auto_upgrade=True)).close()


@pytest.fixture
async def client(
    database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    migrated(database_url, tmp_path)
    async with running(create_app(store_config(database_url, tmp_path))) as client:
        yield client


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:moderation-core:problem:{slug}"
    return body


async def test_a_checked_verdict_is_read_back_by_its_check_id(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/check", json={"contents": ["加我微信 abc123456"], "sender": "u1"}, headers=AUTH
    )
    (result,) = answer.json()["results"]
    verdict = result["verdict"]
    check_id = verdict["check_id"]
    stored = await client.get(f"/v1/checks/{check_id}", headers=AUTH)
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert body["check_id"] == check_id
    assert body["status"] == "final"
    assert body["verdict"] == verdict
    assert body["completed_at"] is None
    assert isinstance(body["created_at"], float)
    document = (await client.get("/openapi.json")).json()
    schema = {"$ref": "#/components/schemas/StoredCheck", "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


async def test_an_evaluate_answer_carries_its_check_id(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/evaluate", json={"contents": ["hello"]}, headers=AUTH)
    check_id = answer.json()["verdict"]["check_id"]
    assert answer.json()["check_id"] == check_id
    stored = (await client.get(f"/v1/checks/{check_id}", headers=AUTH)).json()
    assert (stored["kind"], stored["action"]) == ("evaluate", "ALLOW")


async def test_an_evaluate_without_a_verdict_carries_its_check_id(
    database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    migrated(database_url, tmp_path)
    config = store_config(database_url, tmp_path) | {"policy": {"trusted_senders": ["ops-*"]}}
    async with running(create_app(config)) as client:
        answer = await client.post(
            "/v1/evaluate", json={"contents": ["anything"], "sender": "ops-7"}, headers=AUTH
        )
        outcome = answer.json()
        assert (outcome["action"], outcome["verdict"]) == ("ALLOW", None)
        stored = await client.get(f"/v1/checks/{outcome['check_id']}", headers=AUTH)
        assert stored.status_code == 200, stored.text
        document = (await client.get("/openapi.json")).json()
    body = stored.json()
    assert (body["kind"], body["action"], body["verdict"]) == ("evaluate", "ALLOW", None)
    schema = {"$ref": "#/components/schemas/Outcome", "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(outcome)


def gauge(text: str, name: str) -> float:
    """A sample's value in a Prometheus exposition (``name`` with its labels)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


async def test_metrics_show_the_outbox_the_writer_and_the_journal(
    database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    migrated(database_url, tmp_path)
    app = create_app(store_config(database_url, tmp_path))
    async with running(app) as client:
        store = app.state.service.store
        with store.engine.begin() as connection:
            for n in range(3):
                enqueue(connection, event_type="review.decided", payload={"n": n}, now=1.0)
            connection.execute(sa.update(outbox).where(outbox.c.id == 1).values(status="dead"))
        (tmp_path / "journal").mkdir(exist_ok=True)
        (tmp_path / "journal" / "rejected.jsonl").write_bytes(b'{"c": {}, "r": null}\n')
        text = (await client.get("/metrics")).text
    assert gauge(text, 'moderation_outbox_events{status="pending"}') == 2
    assert gauge(text, 'moderation_outbox_events{status="dead"}') == 1
    assert gauge(text, "moderation_store_database_up") == 1
    assert gauge(text, "moderation_store_queued_records") == 0
    assert gauge(text, "moderation_store_dropped_records") == 0
    assert gauge(text, 'moderation_store_journal_bytes{file="waiting"}') == 0
    assert gauge(text, 'moderation_store_journal_bytes{file="rejected"}') == 21


async def test_metrics_answer_while_the_store_is_away(
    database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    outage = Outage(database_url, tmp_path)
    try:
        migrated(outage.url, tmp_path)
        app = create_app(store_config(outage.url, tmp_path))
        async with running(app) as client:
            outage.down()
            checked = await client.post("/v1/check", json={"contents": ["hi"]}, headers=AUTH)
            assert checked.status_code == 200
            store = app.state.service.store
            assert not await asyncio.to_thread(store.flush)  # into the journal
            text = (await client.get("/metrics")).text
            outage.up()
            assert await asyncio.to_thread(store.flush)
    finally:
        outage.close()
    assert gauge(text, "moderation_store_database_up") == 0
    assert gauge(text, 'moderation_store_journal_bytes{file="waiting"}') > 0


async def test_an_unknown_check_is_a_404_problem(client: httpx.AsyncClient) -> None:
    problem(await client.get("/v1/checks/no-such-check", headers=AUTH), 404, "not-found")
    problem(await client.get("/v1/checks/" + "x" * 5000, headers=AUTH), 404, "not-found")


async def test_the_endpoint_needs_the_api_key(client: httpx.AsyncClient) -> None:
    problem(await client.get("/v1/checks/anything"), 401, "unauthorized")


async def test_readyz_names_the_store(client: httpx.AsyncClient) -> None:
    body = (await client.get("/readyz")).json()
    assert body["checks"]["store"] is None


async def test_without_a_store_the_endpoint_is_a_404_problem() -> None:
    config = {**LOCAL_ONLY, "serve": {"api_keys": [KEY]}}
    async with running(create_app(config)) as client:
        body = problem(await client.get("/v1/checks/c-1", headers=AUTH), 404, "not-found")
        answer = await client.post("/v1/check", json={"contents": ["hi"]}, headers=AUTH)
    assert "[store]" in body["detail"]
    assert "check_id" not in answer.json()["results"][0]["verdict"]


async def test_a_store_that_goes_away_is_named_by_readyz_and_checks_go_on(
    database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    outage = Outage(database_url, tmp_path)
    try:
        migrated(outage.url, tmp_path)
        app = create_app(store_config(outage.url, tmp_path))
        app.state.service.readiness.ttl = 0  # answer each probe afresh
        async with running(app) as client:
            outage.down()
            answer = await client.post("/v1/check", json={"contents": ["hi"]}, headers=AUTH)
            ready = await client.get("/readyz")
            check_id = answer.json()["results"][0]["verdict"]["check_id"]
            store = app.state.service.store
            await asyncio.to_thread(store.flush)
            gone = await client.get(f"/v1/checks/{check_id}", headers=AUTH)
            outage.up()
            assert await asyncio.to_thread(store.flush)
            back = await client.get(f"/v1/checks/{check_id}", headers=AUTH)
    finally:
        outage.close()
    assert answer.status_code == 200
    assert ready.status_code == 503
    assert "does not answer" in ready.json()["checks"]["store"]
    problem(gone, 503, "store-unavailable")
    assert back.status_code == 200


def test_serve_upgrades_sqlite_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(store_config(url, tmp_path))
    store = app.state.service.store
    try:
        with store.engine.connect() as connection:
            version = connection.execute(sa.text("select version_num from alembic_version"))
            assert version.scalar() == head_revision()
    finally:
        store.close()


def test_serve_refuses_a_postgresql_schema_behind(
    database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite is upgraded at start")
    with pytest.raises(ConfigError) as caught:
        create_app(store_config(database_url, tmp_path))
    assert isinstance(caught.value, SchemaBehind)
    assert "moderation db upgrade" in str(caught.value)


def test_moderation_db_upgrade_then_serve_starts(
    database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    config = write_toml(
        tmp_path / "moderation.toml",
        '[providers.local]\ntype = "local"\n'
        f'[store]\nurl = "{database_url}"\njournal = "{tmp_path / "journal"}"\n',
    )
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade", "--config", str(config)])
    again = runner.invoke(main, ["db", "upgrade", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert f"to {head_revision()}" in first.output
    assert again.exit_code == 0, again.output
    assert "up to date" in again.output
    app = create_app(config)
    store = app.state.service.store
    try:
        with store.engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(checks)).scalar() == 0
    finally:
        store.close()


def test_moderation_db_help_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    helped = runner.invoke(main, ["db", "upgrade", "--help"])
    assert helped.exit_code == 0
    assert "PostgreSQL" in helped.output
    no_store = write_toml(tmp_path / "m.toml", '[providers.local]\ntype = "local"\n')
    refused = runner.invoke(main, ["db", "upgrade", "--config", str(no_store)])
    assert refused.exit_code != 0
    assert "[store]" in refused.output
    away = write_toml(
        tmp_path / "away.toml",
        '[providers.local]\ntype = "local"\n'
        '[store]\nurl = "postgresql://app:hunter2-secret@127.0.0.1:1/x"\n',
    )
    failed = runner.invoke(main, ["db", "upgrade", "--config", str(away)])
    assert failed.exit_code == 1
    assert "does not answer" in failed.output
    assert "hunter2" not in failed.output
    assert json.dumps(failed.output)  # printable
