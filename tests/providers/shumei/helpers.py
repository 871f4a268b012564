"""Shared builders for the Shumei tests: config, emulator, moderators, crafted answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from moderation_core import AsyncModerator, Moderator
from moderation_core.testing import RecordingTransport
from moderation_shumei.emulator import ShumeiEmulator, make_emulator
from tests import fake_secrets as secrets
from tests.support.providers import Handler, transport

# Fake credentials of this suite (tests/fake_secrets.py holds the other vendors').
ACCESS_KEY = secrets.SHUMEI_ACCESS_KEY
APP_ID = "fake-app"
BASE_URL = "https://shumei.test"
PATH = "/text/v4"


def emulator(**options: Any) -> ShumeiEmulator:
    return make_emulator(**{"access_key": ACCESS_KEY, "app_id": APP_ID, **options})


def table(**overrides: Any) -> dict[str, Any]:
    """A ``[providers.shumei]`` table for the fake credentials; None drops a key."""
    result: dict[str, Any] = {
        "type": "shumei",
        "base_url": BASE_URL,
        "access_key": ACCESS_KEY,
        "app_id": APP_ID,
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def config(**overrides: Any) -> dict[str, Any]:
    return {"providers": {"shumei": table(**overrides)}}


def moderator(handler: Handler | RecordingTransport, **overrides: Any) -> Moderator:
    return Moderator.from_config(config(**overrides), transport=transport(handler))


def async_moderator(handler: Handler | RecordingTransport, **overrides: Any) -> AsyncModerator:
    return AsyncModerator.from_config(config(**overrides), transport=transport(handler))


def answering(body: Any, status: int = 200) -> Handler:
    """A vendor answering every request with ``body`` (JSON unless bytes)."""
    if isinstance(body, bytes):
        return lambda _request: httpx.Response(status, content=body)
    return lambda _request: httpx.Response(status, json=body)


def answer(**fields: Any) -> dict[str, Any]:
    """A code 1100 answer with the given top-level fields."""
    return {"code": 1100, "message": "成功", "requestId": "r-1", **fields}


def sent(request: httpx.Request) -> Mapping[str, Any]:
    body: Mapping[str, Any] = json.loads(request.content)
    return body
