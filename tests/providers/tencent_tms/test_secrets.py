"""No credential (SecretId, SecretKey, session token, signature) in a repr, an error,
its chain or a log line, even from a vendor that echoes what it was sent."""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx
import pytest

from moderation_core import AllProvidersFailed, Moderator
from moderation_core.testing import RecordingTransport

from .helpers import ALL_SECRETS, TOKEN, config, emulator, error_body, vendor_json


def _exception_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), *map(repr, exc.args)]
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            texts += _exception_texts(linked)
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            texts += _exception_texts(inner)
    return texts


def _leaks(texts: list[str], sent: list[httpx.Request]) -> list[str]:
    secrets = list(ALL_SECRETS)
    for request in sent:
        auth = request.headers["Authorization"]
        secrets += [auth, auth.rpartition("Signature=")[2]]
    forms = {s for secret in secrets for s in (secret, quote(secret, safe=""))}
    return [text[:80] for text in texts for form in forms if form in text]


def test_an_echoing_vendor_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def vendor(request: httpx.Request) -> httpx.Response:
        auth = request.headers["Authorization"]
        echo = f"bad {auth} token {TOKEN} q={quote(auth, safe='')}"
        return vendor_json(error_body("AuthFailure.SignatureFailure", echo))

    recording = RecordingTransport(vendor)
    with (
        caplog.at_level(logging.DEBUG),
        Moderator.from_config(config(token=TOKEN), transport=recording) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    texts = [*_exception_texts(caught.value), caplog.text]
    assert _leaks(texts, recording.requests) == []
    assert "***" in str(caught.value.exceptions[0])


@pytest.mark.parametrize("answer", [b"garbage", b'{"Response": {"Suggestion": 5}}', b"[" * 50_000])
def test_parse_failures_leak_nothing(caplog: pytest.LogCaptureFixture, answer: bytes) -> None:
    recording = RecordingTransport(lambda _r: vendor_json(answer))
    with (
        caplog.at_level(logging.DEBUG),
        Moderator.from_config(config(), transport=recording) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    assert _leaks([*_exception_texts(caught.value), caplog.text], recording.requests) == []


def test_transport_errors_leak_nothing() -> None:
    def vendor(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.headers}", request=request)

    recording = RecordingTransport(vendor)
    with (
        Moderator.from_config(config(), transport=recording) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    assert _leaks(_exception_texts(caught.value), recording.requests) == []


def test_emulator_repr_holds_no_key() -> None:
    text = repr(emulator(token=TOKEN))
    assert not [s for s in ALL_SECRETS if s in text]
