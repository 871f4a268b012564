"""Issue 15's "done when" for media results: an audio clip checked through the Tencent
Chat emulator via ``serve`` answers PENDING; the emulator delivers its ResultNotify to
the hook twice; the check turns final once, the ``check_completed`` hook sees it once,
and the app's receiver gets exactly one signed ``check.completed`` event. In process on
both databases, and with two ``serve`` processes sharing PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from moderation_core import (
    ConfigError,
    Verdict,
    WebhookEvent,
    hookimpl,
    load_config,
    make_plugin_manager,
    register_plugin,
)
from moderation_core._serve import EmulatorServer, serve_emulator
from moderation_core.service import create_app
from moderation_core.service._notify import notify_settings
from moderation_core.store import callbacks, create_store_engine, outbox, store_url, upgrade
from moderation_tencent_chat.emulator import TencentChatEmulator, make_emulator
from tests import fake_secrets as secrets
from tests.service.helpers import running, serve_processes, stop, write_toml
from tests.store.webhook_receiver import WebhookReceiver, first_pass

SDKAPPID = 1400000000
NOTIFY_SECRET = "whsec-media-results-0123456789"
KEY = "media-results-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
ACK = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
CLIP = "https://cdn.example/clips/porn-clip.mp3"  # the emulator blocks "porn" media


def tencent_emulator() -> TencentChatEmulator:
    return make_emulator(
        sdkappid=SDKAPPID, identifier="admin", secret_key=secrets.TENCENT_SECRET_KEY
    )


@pytest.fixture
def vendor() -> Iterator[tuple[TencentChatEmulator, EmulatorServer]]:
    emulator = tencent_emulator()
    server = serve_emulator(emulator)
    try:
        yield emulator, server
    finally:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(NOTIFY_SECRET) as running_receiver:
        yield running_receiver


def config(
    vendor_url: str, database_url: str, receiver_url: str, poll_interval: float = 0.2
) -> dict[str, Any]:
    return {
        "moderation": {"providers": ["tencent"]},
        "providers": {
            "tencent": {
                "type": "tencent_chat",
                "sdkappid": SDKAPPID,
                "identifier": "admin",
                "secret_key": secrets.TENCENT_SECRET_KEY,
                "base_url": vendor_url,
            }
        },
        "serve": {
            "api_keys": [KEY],
            "hooks": {"tencent_chat": {"sdkappid": SDKAPPID}},
            "notify": {
                "url": receiver_url,
                "secret": NOTIFY_SECRET,
                "poll_interval": poll_interval,
            },
        },
        "store": {"url": database_url, "flush_interval": 0.05, "auto_upgrade": True},
    }


class Completed:
    """A plugin that keeps every ``check_completed`` call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Verdict, WebhookEvent]] = []

    @hookimpl
    def check_completed(self, check_id: str, verdict: Verdict, event: WebhookEvent) -> None:
        self.calls.append((check_id, verdict, event))


def assert_one_signed_event(receiver: WebhookReceiver, check_id: str) -> dict[str, Any]:
    (received,) = receiver.events()
    assert receiver.refused == []
    event = received.event
    assert received.event_id == event["id"]
    assert received.signature.startswith("t=")
    assert event["type"] == "check.completed"
    assert isinstance(event["created"], int)
    assert event["data"]["check_id"] == check_id
    assert event["data"]["status"] == "final"
    verdict = event["data"]["verdict"]
    assert (verdict["decision"], verdict["label"], verdict["provider"]) == (
        "BLOCK",
        "PORN",
        "tencent",
    )
    assert verdict["check_id"] == check_id
    return event


async def test_a_pending_audio_check_is_completed_once_and_announced_once(
    database_url: str,
    vendor: tuple[TencentChatEmulator, EmulatorServer],
    receiver: WebhookReceiver,
) -> None:
    emulator, server = vendor
    pm = make_plugin_manager()
    completed = Completed()
    register_plugin(pm, completed)
    app = create_app(config(server.url, database_url, receiver.url), plugin_manager=pm)
    async with running(app) as client:
        checked = await client.post(
            "/v1/check", json={"contents": [{"type": "audio", "value": CLIP}]}, headers=AUTH
        )
        (result,) = checked.json()["results"]
        assert result["verdict"]["decision"] == "PENDING"
        check_id = result["verdict"]["check_id"]
        (request_id,) = emulator.pending
        assert result["verdict"]["request_id"] == request_id

        query, body = emulator.result_notify(request_id)
        for _ in range(2):  # Tencent retrying, or a replay: the same callback twice
            answer = await client.post("/v1/hooks/tencent_chat", params=query, content=body)
            assert answer.status_code == 200
            assert answer.json() == ACK

        stored = (await client.get(f"/v1/checks/{check_id}", headers=AUTH)).json()
        assert stored["status"] == "final"
        assert stored["verdict"]["decision"] == "BLOCK"

        await receiver.arrival(1)
        # A few more polls: nothing else may come.
        for _ in range(5):
            await client.get("/healthz")
            await receiver.arrival(2, timeout=0.2)
    assert_one_signed_event(receiver, check_id)
    ((hooked_id, verdict, event),) = completed.calls
    assert (hooked_id, verdict.check_id, verdict.decision.name) == (check_id, check_id, "BLOCK")
    assert event.request_id == request_id
    engine = create_store_engine(store_url(database_url))
    try:
        with engine.connect() as connection:
            sent = connection.execute(sa.select(outbox.c.status, outbox.c.attempts)).all()
            kept = connection.execute(sa.select(callbacks.c.check_id)).scalars().all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in sent] == [("delivered", 1)]
    assert kept == [check_id]


async def test_a_completed_check_is_announced_at_once_not_at_the_next_poll(
    database_url: str,
    vendor: tuple[TencentChatEmulator, EmulatorServer],
    receiver: WebhookReceiver,
) -> None:
    emulator, server = vendor
    # An hour between polls: only the callback's own wake-up can send the event.
    app = create_app(config(server.url, database_url, receiver.url, poll_interval=3600))
    async with running(app) as client:
        await first_pass(app)
        checked = await client.post(
            "/v1/check", json={"contents": [{"type": "audio", "value": CLIP}]}, headers=AUTH
        )
        check_id = checked.json()["results"][0]["verdict"]["check_id"]
        (request_id,) = emulator.pending
        query, body = emulator.result_notify(request_id)
        answer = await client.post("/v1/hooks/tencent_chat", params=query, content=body)
        assert answer.json() == ACK
        await receiver.arrival(1)
    assert_one_signed_event(receiver, check_id)


async def test_a_result_for_no_known_check_is_acknowledged_and_kept_as_an_orphan(
    database_url: str,
    vendor: tuple[TencentChatEmulator, EmulatorServer],
    receiver: WebhookReceiver,
) -> None:
    emulator, server = vendor
    app = create_app(config(server.url, database_url, receiver.url))
    async with running(app) as client:
        await client.post(
            "/v1/check", json={"contents": [{"type": "audio", "value": CLIP}]}, headers=AUTH
        )
        (request_id,) = emulator.pending
        query, body = emulator.result_notify(request_id)
        forged = json.loads(body) | {"CtxcbRequestId": str(uuid.uuid4())}
        answer = await client.post(
            "/v1/hooks/tencent_chat", params=query, content=json.dumps(forged).encode()
        )
        assert answer.json() == ACK
        unreadable = await client.post("/v1/hooks/tencent_chat", params=query, content=b"[1, 2")
        assert unreadable.status_code == 200
        assert unreadable.json()["ErrorCode"] != 0  # the platform's error answer
        wrong_app = await client.post(
            "/v1/hooks/tencent_chat", params=query | {"SdkAppid": "1"}, content=body
        )
        assert wrong_app.status_code == 403
        await receiver.arrival(1, timeout=1.0)
    assert receiver.events() == []
    engine = create_store_engine(store_url(database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(callbacks)).all()
    finally:
        engine.dispose()
    (orphan,) = rows
    assert orphan.check_id is None
    assert orphan.request_id == forged["CtxcbRequestId"]


async def test_a_store_that_does_not_answer_makes_the_hook_ask_for_the_result_again(
    tmp_path: Path, vendor: tuple[TencentChatEmulator, EmulatorServer], receiver: WebhookReceiver
) -> None:
    emulator, server = vendor
    url = f"sqlite:///{tmp_path / 'store.db'}"
    app = create_app(config(server.url, url, receiver.url))
    async with running(app) as client:
        await client.post(
            "/v1/check", json={"contents": [{"type": "audio", "value": CLIP}]}, headers=AUTH
        )
        (request_id,) = emulator.pending
        query, body = emulator.result_notify(request_id)
        engine = app.state.service.store.engine
        with engine.begin() as connection:  # the table is gone: every write fails
            connection.execute(sa.text("alter table callbacks rename to callbacks_away"))
        refused = await client.post("/v1/hooks/tencent_chat", params=query, content=body)
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        with engine.begin() as connection:
            connection.execute(sa.text("alter table callbacks_away rename to callbacks"))
        again = await client.post("/v1/hooks/tencent_chat", params=query, content=body)
        assert again.json() == ACK
        (event,) = await receiver.arrival(1)
    assert event.event["data"]["verdict"]["decision"] == "BLOCK"


def process_config(vendor_url: str, database_url: str, receiver_url: str) -> str:
    return f"""
[moderation]
providers = ["tencent"]

[providers.tencent]
type       = "tencent_chat"
sdkappid   = {SDKAPPID}
identifier = "admin"
secret_key = "${{TENCENT_IM_SECRET_KEY}}"
base_url   = "{vendor_url}"

[serve]
api_keys = ["${{MODERATION_TEST_API_KEY}}"]

[serve.hooks.tencent_chat]
sdkappid = {SDKAPPID}

[serve.notify]
url           = "{receiver_url}"
secret        = "${{MODERATION_NOTIFY_SECRET}}"
poll_interval = 0.2

[store]
url = "{database_url}"
flush_interval = 0.05
"""


def test_two_serve_processes_on_postgresql_send_one_event(
    database_url: str,
    tmp_path: Path,
    vendor: tuple[TencentChatEmulator, EmulatorServer],
    receiver: WebhookReceiver,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers share a store on PostgreSQL")
    emulator, server = vendor
    engine = create_store_engine(store_url(database_url))
    upgrade(engine)  # `moderation db upgrade`: PostgreSQL is upgraded once, by hand
    toml = write_toml(
        tmp_path / "moderation.toml", process_config(server.url, database_url, receiver.url)
    )
    env = {
        "MODERATION_TEST_API_KEY": KEY,
        "TENCENT_IM_SECRET_KEY": secrets.TENCENT_SECRET_KEY,
        "MODERATION_NOTIFY_SECRET": NOTIFY_SECRET,
    }
    try:
        with serve_processes(toml, 2, env=env) as started:
            (first, _), (second, _) = started
            with httpx.Client(timeout=10) as client:
                checked = client.post(
                    f"{first}/v1/check",
                    json={"contents": [{"type": "audio", "value": CLIP}]},
                    headers=AUTH,
                )
                (result,) = checked.json()["results"]
                assert result["verdict"]["decision"] == "PENDING", checked.text
                check_id = result["verdict"]["check_id"]
                (request_id,) = emulator.pending
                query, body = emulator.result_notify(request_id)
                # The same callback reaches each process behind the load balancer.
                for url in (second, first):
                    answer = client.post(f"{url}/v1/hooks/tencent_chat", params=query, content=body)
                    assert answer.json() == ACK, answer.text
                receiver.wait_for(1)
                receiver.wait_for(2, timeout=2.0)  # both loops poll on: nothing else comes
                for url in (first, second):
                    stored = client.get(f"{url}/v1/checks/{check_id}", headers=AUTH).json()
                    assert stored["status"] == "final"
            errors = [stop(child)[1] for _, child in started]
    finally:
        engine.dispose()
    assert_one_signed_event(receiver, check_id)
    for err in errors:
        for leaked in (NOTIFY_SECRET, KEY, secrets.TENCENT_SECRET_KEY):
            assert leaked not in err


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"secret": NOTIFY_SECRET}, "url"),
        ({"url": "ftp://app.example/x", "secret": NOTIFY_SECRET}, "http"),
        ({"url": "https://app.example/x", "secret": ""}, "secret must not be empty"),
        ({"url": "https://app.example/x", "secret": NOTIFY_SECRET, "retries": 3}, "retries"),
    ],
)
def test_a_bad_notify_table_is_a_config_error_naming_the_key(
    table: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        create_app({"providers": {"local": {"type": "local"}}, "serve": {"notify": table}})
    assert "[serve.notify]" in str(caught.value)
    assert NOTIFY_SECRET not in str(caught.value)


def test_the_notify_secret_is_never_shown() -> None:
    checked = load_config(
        {
            "providers": {"local": {"type": "local"}},
            "serve": {"notify": {"url": "https://app.example/x", "secret": NOTIFY_SECRET}},
        }
    )
    settings = notify_settings(checked)
    assert settings is not None
    assert settings.secret.get() == NOTIFY_SECRET
    for shown in (repr(checked), repr(checked.serve), repr(settings)):
        assert NOTIFY_SECRET not in shown
