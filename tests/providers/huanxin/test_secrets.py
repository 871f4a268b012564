"""The client secret, the app token and the Authorization header never appear in a
repr, an exception message or a log line."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from moderation_core import AllProvidersFailed, ProviderError
from moderation_huanxin import HuanxinProvider
from tests import fake_secrets as secrets

from .helpers import CHECK_PATH, answering, emulator, moderator


def leaked(text: str, tokens: list[str]) -> list[str]:
    return [s for s in (*secrets.ALL, *tokens) if s and s in text]


def test_reprs_hide_the_secret() -> None:
    with moderator(emulator()) as mod:
        mod.check("hello")
        provider = mod.providers[0]
        assert isinstance(provider, HuanxinProvider)
        token = provider._token
        assert token is not None
        shown = " ".join(
            [
                repr(mod),
                repr(provider),
                repr(provider.config),
                str(provider.config),
                repr(token),
                str(provider.describe()),
            ]
        )
    assert leaked(shown, [token.value]) == []
    assert "Secret('***')" in repr(provider.config)


def collect_errors(mod: object, texts: list[str]) -> list[str]:
    messages = []
    for text in texts:
        try:
            mod.check(text)  # type: ignore[attr-defined]
        except AllProvidersFailed as group:
            messages.append(str(group))
            messages.append(repr(group))
            for error in group.exceptions:
                messages.extend([str(error), repr(error), str(error.__cause__)])
    return messages


def test_errors_and_debug_logs_never_carry_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emu = emulator()
    tokens: list[str] = []

    def echoing(request: httpx.Request) -> httpx.Response:
        # A hostile vendor that quotes our credentials back in its error text.
        if request.url.path == CHECK_PATH:
            auth = request.headers["Authorization"]
            tokens.append(auth.removeprefix("Bearer "))
            text = request.read().decode()
            if "echo-401" in text:
                return httpx.Response(
                    401, json={"error": "unauthorized", "error_description": auth}
                )
            if "echo-500" in text:
                return httpx.Response(500, json={"error": "x", "error_description": auth})
            if "echo-400" in text:
                return httpx.Response(
                    400, json={"error": "x", "error_description": secrets.HUANXIN_CLIENT_SECRET}
                )
            return httpx.Response(200, text=f"not json {auth}")
        return emu(request)

    with moderator(answering(echoing)) as mod:
        messages = collect_errors(mod, ["echo-401", "echo-500", "echo-400", "garbage"])
    with moderator(emulator(), client_secret="YXA6wrong-secret-123456") as mod:
        messages += collect_errors(mod, ["bad credentials"])
    assert len(messages) >= 20
    assert tokens
    everything = "\n".join(messages) + "\n" + caplog.text
    assert leaked(everything, [*tokens, "YXA6wrong-secret-123456"]) == []
    assert re.search(r"Bearer (?!\*\*\*)", everything) is None
    assert "Bearer ***" in everything  # the hostile echo was seen, and scrubbed


def test_provider_error_message_scrubs_the_current_token() -> None:
    with moderator(emulator()) as mod:
        mod.check("warm up")
        provider = mod.providers[0]
        assert isinstance(provider, HuanxinProvider)
        assert provider._token is not None
        token = provider._token.value
        error = provider._error(
            httpx.Response(400), {"error": "x", "error_description": f"bad {token}"}
        )
    assert isinstance(error, ProviderError)
    assert token not in str(error)
    assert "***" in str(error)
