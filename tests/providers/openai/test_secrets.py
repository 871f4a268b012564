"""No key in a log line, a repr, an exception or its chain, whatever the vendor answered."""

from __future__ import annotations

import logging

import pytest

from moderation_core import Verdict
from moderation_core.testing import RecordingTransport
from tests.support.providers import Handler, answer, failed_check_text

from .helpers import API_KEY, emulator, error_body, moderator

# The key spelled as the vendor might echo it back.
ECHOES = [API_KEY, API_KEY[:12], API_KEY[-12:]]


@pytest.mark.parametrize(
    "handler",
    [
        emulator(api_key="sk-some-other-key-00000000000"),  # our key refused, part echoed
        emulator(fault="quota"),
        emulator(fault="rate_limit"),
        emulator(fault="500"),
        emulator(fault="garbage"),
        answer(error_body(f"Incorrect API key provided: {API_KEY}", "invalid_request_error"), 400),
        answer(error_body(f"Incorrect API key provided: {API_KEY}", "x", "invalid_api_key"), 401),
        answer(error_body(f"key {API_KEY} over quota", "insufficient_quota"), 429),
        answer(error_body(f"boom for {API_KEY}", "server_error"), 500),
    ],
    ids=["wrong-key", "quota", "rate-limit", "500", "garbage", "400", "401", "429", "500-echo"],
)
def test_no_key_in_errors_or_logs(
    handler: Handler | RecordingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with moderator(handler, retries=1) as mod:
        text = failed_check_text(mod)
    text += caplog.text
    for echo in ECHOES:
        assert echo not in text


def test_no_key_in_a_verdict(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with moderator(emulator()) as mod:
        verdict = mod.check("you idiot")
    assert isinstance(verdict, Verdict)
    assert API_KEY not in repr(verdict) + caplog.text
