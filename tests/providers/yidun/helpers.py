"""Shared builders for the Yidun tests: fake credentials, config, emulator, moderators,
canned answers, and reading the form a request sent."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx

from moderation_core import AsyncModerator, Moderator
from moderation_core.testing import Clock, RecordingTransport
from moderation_yidun import YidunProvider
from moderation_yidun.emulator import YidunEmulator, make_emulator
from tests import fake_secrets as secrets
from tests.support.providers import Handler, transport

# Fake credentials, used nowhere else, so a test can prove none of them leaks.
SECRET_ID = secrets.YIDUN_SECRET_ID
SECRET_KEY = secrets.YIDUN_SECRET_KEY
BUSINESS_ID = "yidun-business-chat"
SECRETS = (SECRET_ID, SECRET_KEY)
BASE_URL = "http://yidun.test"
NOW = 1_700_000_000.0


def emulator(**options: Any) -> YidunEmulator:
    settings: dict[str, Any] = {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "business_ids": (BUSINESS_ID, "yidun-business-group"),
    }
    settings.update(options)
    return make_emulator(**settings)


def table(**overrides: Any) -> dict[str, Any]:
    """A ``[providers.yidun]`` table with the fake credentials."""
    result: dict[str, Any] = {
        "type": "yidun",
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "business_id": BUSINESS_ID,
        "base_url": BASE_URL,
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def config(**overrides: Any) -> dict[str, Any]:
    return {"providers": {"yidun": table(**overrides)}}


def provider(clock: Callable[[], float] | None = None, **overrides: Any) -> YidunProvider:
    cfg = YidunProvider.read_config("yidun", table(**overrides), "<test>")
    return YidunProvider("yidun", cfg, clock=clock or Clock(NOW))


def moderator(handler: Handler | RecordingTransport, **overrides: Any) -> Moderator:
    return Moderator.from_config(config(**overrides), transport=transport(handler))


def async_moderator(handler: Handler | RecordingTransport, **overrides: Any) -> AsyncModerator:
    return AsyncModerator.from_config(config(**overrides), transport=transport(handler))


def answer(body: Mapping[str, Any] | str | bytes, status: int = 200) -> RecordingTransport:
    """A recording handler answering every request with ``body`` (JSON for a mapping)."""
    if isinstance(body, Mapping):
        content = json.dumps(body, ensure_ascii=False).encode()
    else:
        content = body.encode() if isinstance(body, str) else body
    return RecordingTransport(lambda _request: httpx.Response(status, content=content))


def antispam(**fields: Any) -> dict[str, Any]:
    """A single check's answer around one ``antispam`` object (a pass unless told)."""
    item: dict[str, Any] = {"taskId": "task-1", "suggestion": 0, "label": 0, "labels": []}
    item.update(fields)
    return {"code": 200, "msg": "ok", "result": {"antispam": item}}


def form(request: httpx.Request) -> dict[str, str]:
    """The form a request sent, each parameter once."""
    pairs = parse_qsl(request.content.decode(), keep_blank_values=True, strict_parsing=True)
    params = dict(pairs)
    assert len(params) == len(pairs), "a parameter was sent twice"
    return params


def texts(request: httpx.Request) -> list[dict[str, str]]:
    """The ``texts`` of a batch-check request."""
    value: list[dict[str, str]] = json.loads(form(request)["texts"])
    return value
