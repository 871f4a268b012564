"""No key in a log line, a repr, an exception or its chain, whatever the vendor
answered; and none sent anywhere but to Azure."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from moderation_core import Content, InvalidContent, Verdict
from moderation_core.testing import RecordingTransport
from tests.support.providers import Handler, answer, failed_check_text

from .helpers import API_KEY, HOST, emulator, error_body, moderator

# The key spelled as the vendor might echo it back.
ECHOES = [API_KEY, API_KEY[:12], API_KEY[-12:]]


@pytest.mark.parametrize(
    "handler",
    [
        emulator(api_key="0" * 32),  # our key refused
        emulator(fault="rate_limit"),
        emulator(fault="internal"),
        emulator(fault="garbage"),
        answer(error_body("InvalidRequestBody", f"key {API_KEY} is wrong"), 400),
        answer(error_body("401", f"Access denied for {API_KEY}"), 401),
        answer(error_body("TooManyRequests", f"{API_KEY} over quota"), 429),
        answer(error_body("InternalError", f"boom for {API_KEY}"), 500),
        answer(f'{{"categoriesAnalysis": "{API_KEY}"}}'),
    ],
    ids=["wrong-key", "429", "500", "garbage", "400-echo", "401-echo", "429-echo", "500-echo",
         "body-echo"],
)  # fmt: skip
def test_no_key_in_errors_or_logs(
    handler: Handler | RecordingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with moderator(handler, retries=1) as mod:
        text = failed_check_text(mod)
        text += repr(mod.providers[0]) + repr(mod.providers[0].describe())
    text += caplog.text
    for echo in ECHOES:
        assert echo not in text


def test_no_key_in_a_verdict_or_an_image_refusal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with moderator(emulator()) as mod:
        verdict = mod.check("you idiot")
        with pytest.raises(InvalidContent) as caught:
            mod.check(Content.image("https://img.example.com/missing.png"))
    assert isinstance(verdict, Verdict)
    text = repr(verdict) + caplog.text + "".join(traceback.format_exception(caught.value))
    assert API_KEY not in text


def test_the_key_goes_to_azure_only() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        mod.check(Content.image("https://img.example.com/cat.png"))
        mod.check("hello")
    for request in recording.requests:
        carries = API_KEY in str(request.headers) or API_KEY in str(request.url)
        assert carries == (request.url.host == HOST), request.url
    assert all(API_KEY.encode() not in r.content for r in recording.requests)
    assert isinstance(recording.requests[0], httpx.Request)
