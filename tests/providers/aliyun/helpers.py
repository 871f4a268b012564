"""Shared builders for the Alibaba Cloud Green tests: config, emulator, moderators,
crafted answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx

from moderation_aliyun import AliyunGreenProvider
from moderation_aliyun.emulator import AliyunGreenEmulator, make_emulator
from moderation_core import (
    AsyncModerator,
    CheckContext,
    Content,
    Moderator,
)
from moderation_core.testing import Clock, RecordingTransport
from tests import fake_secrets as secrets
from tests.support.providers import Handler, transport

# Fake credentials of this suite (tests/fake_secrets.py holds the other vendors').
ACCESS_KEY_ID = secrets.ALIYUN_ACCESS_KEY_ID
ACCESS_KEY_SECRET = secrets.ALIYUN_ACCESS_KEY_SECRET
SECURITY_TOKEN = secrets.ALIYUN_SECURITY_TOKEN
BASE_URL = "https://green-cip.test"
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def emulator(**options: Any) -> AliyunGreenEmulator:
    return make_emulator(
        **{"access_key_id": ACCESS_KEY_ID, "access_key_secret": ACCESS_KEY_SECRET, **options}
    )


def table(**overrides: Any) -> dict[str, Any]:
    """A ``[providers.aliyun]`` table for the fake credentials; None drops a key."""
    result: dict[str, Any] = {
        "type": "aliyun_green",
        "base_url": BASE_URL,
        "access_key_id": ACCESS_KEY_ID,
        "access_key_secret": ACCESS_KEY_SECRET,
        "rate_limit": 0,
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def config(**overrides: Any) -> dict[str, Any]:
    return {"providers": {"aliyun": table(**overrides)}}


def moderator(handler: Handler | RecordingTransport, **overrides: Any) -> Moderator:
    return Moderator.from_config(config(**overrides), transport=transport(handler))


def async_moderator(handler: Handler | RecordingTransport, **overrides: Any) -> AsyncModerator:
    return AsyncModerator.from_config(config(**overrides), transport=transport(handler))


def provider(
    clock: Callable[[], float] | None = None, nonce: str = "nonce-1", **overrides: Any
) -> AliyunGreenProvider:
    """A provider built by hand, with a clock and nonces of the test's choosing."""
    config_ = AliyunGreenProvider.read_config("aliyun", table(**overrides), "test")
    return AliyunGreenProvider(
        "aliyun", config_, clock=clock or Clock(now=NOW), nonce=lambda: nonce
    )


def signed_request(
    text: str = "hello", *, scene: str | None = None, sender: str | None = None, **overrides: Any
) -> httpx.Request:
    built = provider(**overrides)
    return built.request(Content.text(text), CheckContext(scene=scene, sender=sender))


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def service_parameters(request: httpx.Request) -> Mapping[str, Any]:
    parameters: Mapping[str, Any] = json.loads(form(request)["ServiceParameters"])
    return parameters


def answering(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Handler:
    """A vendor answering every request with ``body`` (JSON unless bytes)."""
    if isinstance(body, bytes):
        return lambda _request: httpx.Response(status, content=body, headers=headers)
    return lambda _request: httpx.Response(status, json=body, headers=headers)


def plus_answer(risk_level: object = "high", results: Any = (), **data: Any) -> dict[str, Any]:
    """A code 200 TextModerationPlus answer; wrong types welcome, for the broken ones."""
    body: dict[str, Any] = {"Result": list(results), **data}
    if risk_level is not None:
        body["RiskLevel"] = risk_level
    return {"Code": 200, "Message": "OK", "RequestId": "r-1", "Data": body}


def classic_answer(labels: object = "", reason: Any = "", **data: Any) -> dict[str, Any]:
    """A code 200 TextModeration answer; ``reason`` given as a dict is JSON-encoded."""
    if not isinstance(reason, str):
        reason = json.dumps(reason, ensure_ascii=False)
    return {
        "Code": 200,
        "Message": "OK",
        "RequestId": "r-1",
        "Data": {"labels": labels, "reason": reason, **data},
    }
