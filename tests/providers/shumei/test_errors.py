"""Every error row of issue 13 item 3, and what the core does with each: ``code`` 1901
RateLimited, 9101 AuthError, 1903 ProviderUnavailable, 1902 and 1905 ProviderError."""

from __future__ import annotations

import httpx
import pytest

from moderation_core import (
    AuthError,
    Decision,
    Label,
    Moderator,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from moderation_core.testing import Clock, RecordingTransport
from tests.support.providers import failure

from .helpers import ACCESS_KEY, answering, config, emulator, moderator


@pytest.mark.parametrize(
    ("code", "kind", "retryable", "words"),
    [
        (1901, RateLimited, True, "QPS"),
        (9101, AuthError, False, "access_key"),
        (1903, ProviderUnavailable, True, "service failure"),
        (1902, ProviderError, False, "parameter"),
        (1905, ProviderError, False, "10,000-character"),
        (1904, ProviderError, False, "code 1904"),  # undocumented: refused, never a pass
    ],
)
def test_vendor_codes(code: int, kind: type[ProviderError], retryable: bool, words: str) -> None:
    body = {"code": code, "message": "msg", "requestId": "r"}
    with moderator(answering(body)) as mod:
        error = failure(mod)
    assert type(error) is kind
    assert (error.code, error.retryable, error.provider) == (code, retryable, "shumei")
    assert words in str(error)
    if kind is RateLimited:
        assert isinstance(error, RateLimited)
        assert error.retry_after is None  # Shumei sends no hint


def test_1901_from_the_emulator_qps_limit() -> None:
    clock = Clock()
    emu = emulator(rate_limit=2, clock=clock)
    with moderator(emu) as mod:
        assert [mod.check(f"t{i}").decision for i in range(2)] == [Decision.PASS] * 2
        error = failure(mod, "third in the same second")
        clock.advance(1)
        after = mod.check("next second")
    assert isinstance(error, RateLimited)
    assert error.code == 1901
    assert after.decision is Decision.PASS


def test_9101_wrong_access_key() -> None:
    with moderator(emulator(access_key="the-real-one")) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == 9101
    assert ACCESS_KEY not in str(error)


def test_9101_wrong_app_id() -> None:
    with moderator(emulator(app_id="another-app")) as mod:
        error = failure(mod)
    assert (type(error), error.code) == (AuthError, 9101)


def test_1903_is_retried_when_retries_allow() -> None:
    emu = emulator()
    emu.inject("1903")
    recording = RecordingTransport(emu)
    with Moderator.from_config(config(retries=1), transport=recording) as mod:
        verdict = mod.check("你这个傻逼")
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.ABUSE)
    assert len(recording.requests) == 2


def test_1902_is_not_retried() -> None:
    recording = RecordingTransport(emulator(event_ids="message,groupChat"))
    with Moderator.from_config(config(retries=3), transport=recording) as mod:
        error = failure(mod)  # eventId "text" is not provisioned for this app
    assert (type(error), error.code) == (ProviderError, 1902)
    assert "event_id" in str(error)
    assert len(recording.requests) == 1


def test_1905_from_the_emulator_text_limit() -> None:
    # The core splits at 10,000 characters, so only a vendor counting tighter than the
    # API doc says can answer 1905; it is a typed, non-retryable error then.
    with moderator(emulator(max_text_chars=5)) as mod:
        error = failure(mod, "more than five")
    assert (type(error), error.code, error.retryable) == (ProviderError, 1905, False)


def test_gateway_statuses_are_typed() -> None:
    for status, kind in ((502, ProviderUnavailable), (403, AuthError), (429, RateLimited)):
        with moderator(answering(b"<html></html>", status=status)) as mod:
            assert type(failure(mod)) is kind


def test_a_timeout_is_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with moderator(slow) as mod:
        assert isinstance(failure(mod), ProviderUnavailable)


def test_a_failing_shumei_falls_back_to_the_next_provider() -> None:
    cfg = config()
    cfg["moderation"] = {"providers": ["shumei", "local"], "strategy": "fallback"}
    cfg["providers"]["local"] = {"type": "local"}
    emu = emulator()
    emu.inject("1903")
    with Moderator.from_config(cfg, transport=httpx.MockTransport(emu)) as mod:
        verdict = mod.check("你这个傻逼")
    assert verdict.provider == "local"
    assert verdict.failed_over
    (error,) = verdict.errors
    assert (error.provider, error.code) == ("shumei", 1903)
