"""Builders every provider's tests share: a transport from a handler, a recorded
canned answer, the one provider error behind a failed check, and all a failed check
shows (to look for a secret in); the problems of a provider table that is refused."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from moderation_core import AllProvidersFailed, ConfigError, Content, Moderator, ProviderError
from moderation_core.testing import RecordingTransport

Handler = Callable[[httpx.Request], httpx.Response]


def transport(handler: Handler | RecordingTransport) -> httpx.BaseTransport:
    """A recording transport as it is, any other handler through httpx.MockTransport."""
    return handler if isinstance(handler, RecordingTransport) else httpx.MockTransport(handler)


def answer(
    body: Mapping[str, Any] | str | bytes,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> RecordingTransport:
    """A recording handler answering every request with ``body`` (JSON for a mapping)."""
    if isinstance(body, Mapping):
        content = json.dumps(body).encode()
    else:
        content = body.encode() if isinstance(body, str) else body
    return RecordingTransport(
        lambda _request: httpx.Response(status, content=content, headers=headers)
    )


def failure(mod: Moderator, item: Content | str = "some text", **context: Any) -> ProviderError:
    """The one provider error behind a check that failed (``context``: scene, sender,
    receiver)."""
    try:
        mod.check(item, **context)
    except AllProvidersFailed as group:
        (error,) = group.exceptions
        return error
    raise AssertionError("the check did not fail")


def failed_check_text(mod: Moderator, item: Content | str = "hello") -> str:
    """All that a check that failed shows: the error group's traceback (causes and
    contexts included), its errors' reprs, and the Moderator's repr."""
    outcome = mod.check_many([item], return_exceptions=True)[0]
    assert isinstance(outcome, AllProvidersFailed), outcome
    return "".join(traceback.format_exception(outcome)) + repr(outcome.exceptions) + repr(mod)


def config_problems(read: Callable[..., object], secret: str, **overrides: Any) -> tuple[str, ...]:
    """The problems of the table ``read(**overrides)`` refuses with a ``ConfigError``;
    ``secret`` (the table's credential) is in none of them."""
    with pytest.raises(ConfigError) as caught:
        read(**overrides)
    assert secret not in str(caught.value)
    return caught.value.problems
