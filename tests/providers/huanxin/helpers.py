"""Shared builders for the Huanxin tests: config, emulator, moderators, crafted answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from moderation_core import AsyncModerator, Moderator
from moderation_core.testing import RecordingTransport
from moderation_huanxin.emulator import HuanxinEmulator, make_emulator
from tests import fake_secrets as secrets
from tests.support.providers import Handler, transport

ORG = "fake-org"
APP = "fake-app"
BASE_URL = "http://huanxin.test"
CHECK_PATH = f"/{ORG}/{APP}/moderation/txt/check"
TOKEN_PATH = f"/{ORG}/{APP}/token"


def emulator(**options: Any) -> HuanxinEmulator:
    settings: dict[str, Any] = {
        "org_name": ORG,
        "app_name": APP,
        "client_id": secrets.HUANXIN_CLIENT_ID,
        "client_secret": secrets.HUANXIN_CLIENT_SECRET,
    }
    settings.update(options)
    return make_emulator(**settings)


def table(**overrides: Any) -> dict[str, Any]:
    """A ``[providers.huanxin]`` table for the fake credentials; a None override drops
    its key (``rate_limit=None`` for the default pacing)."""
    result: dict[str, Any] = {
        "type": "huanxin",
        "base_url": BASE_URL,
        "org_name": ORG,
        "app_name": APP,
        "client_id": secrets.HUANXIN_CLIENT_ID,
        "client_secret": secrets.HUANXIN_CLIENT_SECRET,
        "rate_limit": 0,  # no pacing, so the suite never sleeps on the 97/s default
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def config(**overrides: Any) -> dict[str, Any]:
    return {"providers": {"huanxin": table(**overrides)}}


def moderator(handler: Handler | RecordingTransport, **overrides: Any) -> Moderator:
    return Moderator.from_config(config(**overrides), transport=transport(handler))


def async_moderator(handler: Handler | RecordingTransport, **overrides: Any) -> AsyncModerator:
    return AsyncModerator.from_config(config(**overrides), transport=transport(handler))


def answering(
    check: Callable[[httpx.Request], httpx.Response], emu: HuanxinEmulator | None = None
) -> RecordingTransport:
    """Tokens from the emulator; every txt/check answered by ``check``."""
    tokens = emu or emulator()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == CHECK_PATH:
            return check(request)
        return tokens(request)

    return RecordingTransport(handler)


def data_answer(data: Any, meta: Mapping[str, Any] | None = None, **extra: Any) -> Handler:
    body = {"code": 200, "data": data, "meta": meta or {"timestamp": 1, "requestId": ""}}
    body.update(extra)
    return lambda _request: httpx.Response(200, json=body)


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)
