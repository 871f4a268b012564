"""No credential and no signature in a log line, a repr, an exception (message, args,
chain) or a cassette, whatever the vendor answers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from moderation_core import AllProvidersFailed, ModerationError
from moderation_core.testing import RecordingTransport

from .helpers import SECRETS, answer, emulator, form, moderator

CASSETTES = Path(__file__).parent / "cassettes"


def texts_of(exc: BaseException, seen: set[int] | None = None) -> list[str]:
    seen = set() if seen is None else seen
    if id(exc) in seen:
        return []
    seen.add(id(exc))
    found = [str(exc), repr(exc), *map(repr, exc.args), *getattr(exc, "__notes__", ())]
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            found += texts_of(linked, seen)
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found += texts_of(inner, seen)
    return found


BODIES = [
    {"code": 410, "msg": "signature failed"},
    {"code": 420, "msg": "request expired"},
    {"code": 5502, "msg": "invalid param"},
    {"code": 200, "result": {"antispam": "x"}},
    "<html>oops</html>",
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: str(b)[:20])
def test_no_secret_or_signature_leaks_from_a_failed_check(
    body: Mapping[str, Any] | str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recording = answer(body)
    errors: list[BaseException] = []
    with moderator(recording) as mod:
        for item in ("one", ["two", "three"]):
            try:
                if isinstance(item, list):
                    mod.check_many(item)
                else:
                    mod.check(item)
            except ModerationError as exc:
                errors.append(exc)
        reprs = [repr(mod), repr(mod.providers[0]), repr(mod.providers[0].config)]
    signatures = {form(r)["signature"] for r in recording.requests}
    haystack = [*caplog.messages, *reprs, *(t for e in errors for t in texts_of(e))]
    for text in haystack:
        for secret in (*SECRETS, *signatures):
            assert secret.lower() not in text.lower(), text
    assert errors


def test_a_vendor_echoing_the_whole_form_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sent: list[httpx.Request] = []

    def echo(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"code": 405, "msg": request.content.decode()})

    with moderator(echo) as mod, pytest.raises(AllProvidersFailed) as caught:
        mod.check("hello")
    signature = form(sent[0])["signature"]
    for text in [*texts_of(caught.value), *caplog.messages]:
        assert signature not in text
        for secret in SECRETS:
            assert secret not in text


def test_a_successful_check_logs_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        mod.check_many(["hello", "you idiot"])
    signature = form(recording.requests[0])["signature"]
    for text in caplog.messages:
        assert signature not in text
        for secret in SECRETS:
            assert secret not in text


def test_cassettes_hold_no_credential() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert cassettes
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        assert SECRETS[1] not in text, path  # the key is never sent, never recorded
        assert "signature=FILTERED" in text, path
