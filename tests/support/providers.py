"""Builders every provider's tests share: a transport from a handler, and the one
provider error behind a failed check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from moderation_core import AllProvidersFailed, Content, Moderator, ProviderError
from moderation_core.testing import RecordingTransport

Handler = Callable[[httpx.Request], httpx.Response]


def transport(handler: Handler | RecordingTransport) -> httpx.BaseTransport:
    """A recording transport as it is, any other handler through httpx.MockTransport."""
    return handler if isinstance(handler, RecordingTransport) else httpx.MockTransport(handler)


def failure(mod: Moderator, item: Content | str = "some text", **context: Any) -> ProviderError:
    """The one provider error behind a check that failed (``context``: scene, sender,
    receiver)."""
    try:
        mod.check(item, **context)
    except AllProvidersFailed as group:
        (error,) = group.exceptions
        return error
    raise AssertionError("the check did not fail")
