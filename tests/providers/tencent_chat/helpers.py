"""Shared builders for the Tencent Chat tests: config, emulator, moderators, answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from moderation_core import (
    AllProvidersFailed,
    AsyncModerator,
    Moderator,
    ProviderError,
)
from moderation_core.testing import RecordingTransport
from moderation_tencent_chat import TencentChatProvider
from moderation_tencent_chat.emulator import TencentChatEmulator, make_emulator
from tests import fake_secrets as secrets

SDKAPPID = 1400000000
IDENTIFIER = "admin"
BASE_URL = "http://tencent-chat.test"
SINGLE_PATH = "/v4/im_msg_audit/content_moderation"
BATCH_PATH = "/v4/im_msg_audit/batch_content_moderation"

Handler = Callable[[httpx.Request], httpx.Response]


def emulator(**options: Any) -> TencentChatEmulator:
    settings: dict[str, Any] = {
        "sdkappid": SDKAPPID,
        "identifier": IDENTIFIER,
        "secret_key": secrets.TENCENT_SECRET_KEY,
    }
    settings.update(options)
    return make_emulator(**settings)


def table(**overrides: Any) -> dict[str, Any]:
    """A ``[providers.tencent]`` table with the fake credentials."""
    result: dict[str, Any] = {
        "type": "tencent_chat",
        "sdkappid": SDKAPPID,
        "identifier": IDENTIFIER,
        "secret_key": secrets.TENCENT_SECRET_KEY,
        "base_url": BASE_URL,
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def config(**overrides: Any) -> dict[str, Any]:
    return {"providers": {"tencent": table(**overrides)}}


def provider(clock: Callable[[], float] | None = None, **overrides: Any) -> TencentChatProvider:
    """A provider built straight from a table, optionally on a fake clock."""
    cfg = TencentChatProvider.read_config("tencent", table(**overrides), "<test>")
    if clock is None:
        return TencentChatProvider("tencent", cfg)
    return TencentChatProvider("tencent", cfg, clock=clock)


def transport(handler: Handler | RecordingTransport) -> httpx.MockTransport | RecordingTransport:
    """A recording transport as it is, any other handler through httpx.MockTransport."""
    return handler if isinstance(handler, RecordingTransport) else httpx.MockTransport(handler)


def moderator(handler: Handler | RecordingTransport, **overrides: Any) -> Moderator:
    return Moderator.from_config(config(**overrides), transport=transport(handler))


def async_moderator(handler: Handler | RecordingTransport, **overrides: Any) -> AsyncModerator:
    return AsyncModerator.from_config(config(**overrides), transport=transport(handler))


def answer(body: Mapping[str, Any] | str | bytes, status: int = 200) -> Handler:
    """A handler answering every request with ``body`` (JSON for a mapping)."""
    if isinstance(body, Mapping):
        content = json.dumps(body, ensure_ascii=False).encode()
    else:
        content = body.encode() if isinstance(body, str) else body
    return lambda _request: httpx.Response(status, content=content)


def answers(*bodies: Mapping[str, Any]) -> RecordingTransport:
    """A recording handler answering with ``bodies`` in turn."""
    queue = list(bodies)
    return RecordingTransport(lambda _request: httpx.Response(200, json=queue.pop(0)))


def fail_body(code: int, info: str = "error") -> dict[str, Any]:
    return {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info}


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


def failure(mod: Moderator, item: Any = "some text") -> ProviderError:
    """The one provider error behind a check that failed."""
    try:
        mod.check(item)
    except AllProvidersFailed as group:
        (error,) = group.exceptions
        return error
    raise AssertionError("the check did not fail")
