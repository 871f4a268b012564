"""Shared builders for the Tencent TMS/IMS tests: fake credentials, config, emulator,
moderators, answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from moderation_core import Moderator
from moderation_core.testing import RecordingTransport
from moderation_tencent_tms import TencentTmsProvider
from moderation_tencent_tms.emulator import TencentTmsEmulator, make_emulator
from tests import fake_secrets as secrets
from tests.support.providers import Handler, transport

# Fake credentials in the shapes of real ones: a cassette scan looks for exactly these.
SECRET_ID = secrets.TENCENT_TMS_SECRET_ID
SECRET_KEY = secrets.TENCENT_TMS_SECRET_KEY
TOKEN = secrets.TENCENT_TMS_TOKEN
ALL_SECRETS = (SECRET_ID, SECRET_KEY, TOKEN)
REGION = "ap-singapore"
BASE_URL = "http://tms.test"


def emulator(**options: Any) -> TencentTmsEmulator:
    settings: dict[str, Any] = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY}
    settings.update(options)
    return make_emulator(**settings)


def table(**overrides: Any) -> dict[str, Any]:
    """A ``[providers.tms]`` table with the fake credentials (None drops a key)."""
    result: dict[str, Any] = {
        "type": "tencent_tms",
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "region": REGION,
        "base_url": BASE_URL,
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def config(**overrides: Any) -> dict[str, Any]:
    return {"providers": {"tms": table(**overrides)}}


def provider(clock: Callable[[], float] | None = None, **overrides: Any) -> TencentTmsProvider:
    cfg = TencentTmsProvider.read_config("tms", table(**overrides), "<test>")
    if clock is None:
        return TencentTmsProvider("tms", cfg)
    return TencentTmsProvider("tms", cfg, clock=clock)


def moderator(handler: Handler | RecordingTransport, **overrides: Any) -> Moderator:
    return Moderator.from_config(config(**overrides), transport=transport(handler))


def vendor_json(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    """An answer as Tencent sends one: exactly ``Content-Type: application/json``."""
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return httpx.Response(
        status, content=content, headers={"Content-Type": "application/json", **headers}
    )


def answering(body: Any, status: int = 200, **headers: str) -> RecordingTransport:
    """A recording handler answering every request with ``body``."""
    return RecordingTransport(lambda _request: vendor_json(body, status, **headers))


def error_body(code: str, message: str = "emulated") -> dict[str, Any]:
    return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "req-1"}}


def ok_body(*, drop: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A TextModeration answer; ``fields`` replace its keys, ``drop`` removes some."""
    inner: dict[str, Any] = {
        "Suggestion": "Pass",
        "Label": "Normal",
        "SubLabel": "",
        "Score": 0,
        "Keywords": [],
        "RequestId": "req-1",
    }
    inner.update(fields)
    return {"Response": {k: v for k, v in inner.items() if k not in drop}}


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


def as_mapping(value: Any) -> Mapping[str, Any]:
    assert isinstance(value, Mapping)
    return value
