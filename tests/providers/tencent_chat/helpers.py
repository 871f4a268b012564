"""Shared builders for the Tencent Chat tests: config, emulator, moderators, answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import httpx

from moderation_core import (
    AsyncModerator,
    Moderator,
)
from moderation_core.testing import RecordingTransport
from moderation_tencent_chat import TencentChatProvider
from moderation_tencent_chat.emulator import TencentChatEmulator, make_emulator
from tests import fake_secrets as secrets
from tests.support.providers import Handler, transport

SDKAPPID = 1400000000
IDENTIFIER = "admin"
BASE_URL = "http://tencent-chat.test"
SINGLE_PATH = "/v4/im_msg_audit/content_moderation"
BATCH_PATH = "/v4/im_msg_audit/batch_content_moderation"


class Parties(TypedDict):
    """``sender`` and ``receiver`` as keywords for ``check``/``check_many``."""

    sender: str
    receiver: str


# The sender and receiver of Tencent's documented examples (seeds 000-002).
SEED_CONTEXT: Parties = {"sender": "sender_xx", "receiver": "receiver_yy"}


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
