"""Every error code in the table, HTTP and body failures, the one UserSig retry, and
the limits checked before anything is sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from moderation_core import (
    AuthError,
    CheckContext,
    Content,
    ContentType,
    Decision,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Verdict,
)
from moderation_core.testing import Clock, RecordingTransport
from moderation_tencent_chat import TencentChatProvider
from tests.support.providers import failure

from .helpers import (
    BATCH_PATH,
    SINGLE_PATH,
    answer,
    answers,
    fail_body,
    moderator,
    provider,
    sent_json,
)

PASS = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "Result": "Pass", "RequestId": "r"}

RATE_LIMITED = [60007, 60011, 60018, 60019]
AUTH = [60004, 60005, 60006, 60010, 60021, 60025, 70002, 70003, 70005, 70009, 70013, 70014,
        70016, 70020, 70050, 70051]  # fmt: skip
UNAVAILABLE = [60008, 60013, 60014, 60022, 70169, 70500, 93001, 93006]
OTHER = [60002, 60003, 60009, 60012, 60015, 60016, 60017, 60020, 60026, 60028, 70107, 70398,
         70402, 80002, 93000, 93005, 93007, 93008, 12345]  # fmt: skip
CASES = (
    [(code, RateLimited) for code in RATE_LIMITED]
    + [(code, AuthError) for code in AUTH]
    + [(code, ProviderUnavailable) for code in UNAVAILABLE]
    + [(code, ProviderError) for code in OTHER]
)


@pytest.mark.parametrize(("code", "kind"), CASES, ids=[str(c) for c, _ in CASES])
def test_error_code_maps_to_its_class(code: int, kind: type[ProviderError]) -> None:
    handler = answers(fail_body(code, f"vendor says {code}"))
    with moderator(handler) as mod:
        error = failure(mod)
    assert type(error) is kind
    assert error.code == code
    assert error.provider == "tencent"
    assert f"vendor says {code}" in str(error)
    assert len(handler.requests) == 1  # no retry: only 70001/70052 are retried
    if kind is RateLimited:
        assert error.retryable


@pytest.mark.parametrize("code", [70001, 70052])
def test_stale_usersig_is_regenerated_and_retried_once(code: int) -> None:
    handler = answers(fail_body(code, "UserSig expired"), PASS)
    with moderator(handler) as mod:
        verdict = mod.check("hello")
    assert verdict.decision is Decision.PASS
    assert len(handler.requests) == 2


@pytest.mark.parametrize("code", [70001, 70052])
def test_stale_usersig_twice_is_an_auth_error(code: int) -> None:
    handler = answers(fail_body(code, "UserSig expired"), fail_body(code, "UserSig expired"))
    with moderator(handler) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == code
    assert "after one retry with a new UserSig" in str(error)
    assert len(handler.requests) == 2


def test_the_retry_carries_a_new_usersig() -> None:
    clock = Clock()
    handler = answers(fail_body(70001), PASS)
    flow = provider(clock).flow([Content.text("hello")], CheckContext())
    first = next(flow)
    clock.advance(5)
    second = flow.send(handler.handle_request(first))
    with pytest.raises(StopIteration) as done:
        flow.send(handler.handle_request(second))
    assert first.url.params["usersig"] != second.url.params["usersig"]
    assert isinstance(done.value.value[0], Verdict)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 404, 301])
def test_non_200_http_is_unavailable(status: int) -> None:
    with moderator(answer("Bad Gateway", status)) as mod:
        error = failure(mod)
    assert type(error) is ProviderUnavailable
    assert f"HTTP {status}" in str(error)


def test_http_429_is_rate_limited_with_retry_after() -> None:
    handler = RecordingTransport(lambda _r: httpx.Response(429, headers={"Retry-After": "2"}))
    with moderator(handler) as mod:
        error = failure(mod)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00garbage",
        b"<html>gateway</html>",
        b"[1, 2]",
        b'{"hello": "world"}',
        b'{"ActionStatus": "OK", "ErrorCode": "zero"}',
        b'{"ActionStatus": "OK", "ErrorCode": 0, "Result": "Pass", "Score": "99"}',
        b'{"ActionStatus": "OK", "ErrorCode": 0, "Result": "Pass", "Keywords": "abc"}',
    ],
)
def test_undocumented_body_is_a_protocol_error(body: bytes) -> None:
    with moderator(answer(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)


def test_fail_without_a_code_is_a_provider_error() -> None:
    with moderator(answer({"ActionStatus": "FAIL", "ErrorInfo": "nope"})) as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert error.code is None


def test_transport_timeout_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with moderator(handler) as mod:
        error = failure(mod)
    assert isinstance(error, ProviderUnavailable)


def test_region_hint_for_60026() -> None:
    with moderator(answers(fail_body(60026, "domain mismatch"))) as mod:
        error = failure(mod)
    assert "check region / base_url" in str(error)


# -- limits checked before sending, on the flow itself (the router already keeps
#    over-limit text away; a direct caller of flow gets them checked too) -----------


def _run(
    target: TencentChatProvider, contents: list[Content], handler: RecordingTransport
) -> list[Any]:
    flow = target.flow(contents, CheckContext())
    try:
        request = next(flow)
        while True:
            request = flow.send(handler.handle_request(request))
    except StopIteration as done:
        return list(done.value)


def test_oversize_content_is_refused_before_sending() -> None:
    handler = RecordingTransport(answer(PASS))
    results = _run(provider(), [Content.text("好" * 2731)], handler)  # 8193 bytes
    assert handler.requests == []
    (error,) = results
    assert isinstance(error, ProviderError)
    assert error.code == 93000


def test_exactly_8192_bytes_is_sent() -> None:
    handler = RecordingTransport(answer(PASS))
    results = _run(provider(), [Content.text("a" * 8192)], handler)
    assert isinstance(results[0], Verdict)
    assert len(handler.requests) == 1


def test_non_http_media_url_is_refused_before_sending() -> None:
    # Content itself refuses such URLs; a hand-built one still gets checked here.
    sneaky = object.__new__(Content)
    object.__setattr__(sneaky, "type", ContentType.IMAGE)
    object.__setattr__(sneaky, "value", "ftp://example.com/a.png")
    object.__setattr__(sneaky, "id", None)
    handler = RecordingTransport(answer(PASS))
    (error,) = _run(provider(), [sneaky], handler)
    assert isinstance(error, ProviderError)
    assert "http(s)" in str(error)
    assert handler.requests == []


def test_audio_in_a_multi_item_flow_goes_to_the_single_endpoint() -> None:
    def vendor(request: httpx.Request) -> httpx.Response:
        body = sent_json(request)
        if request.url.path == BATCH_PATH:
            assert {c["ContentType"] for c in body["Contents"]} <= {"Text", "Image"}
            items = [
                {"ErrorCode": 0, "ContentId": c["ContentId"], "Result": "Pass", "Label": "Normal"}
                for c in body["Contents"]
            ]
            return httpx.Response(200, json={"ErrorCode": 0, "AuditResults": items})
        return httpx.Response(200, json={"ErrorCode": 0, "RequestId": "av"})

    handler = RecordingTransport(vendor)
    contents = [Content.text("a"), Content.audio("https://x.example/a.mp3"), Content.text("b")]
    text_a, audio, text_b = _run(provider(), contents, handler)
    assert handler.paths() == [BATCH_PATH, SINGLE_PATH]
    assert (text_a.decision, audio.decision, text_b.decision) == (
        Decision.PASS,
        Decision.PENDING,
        Decision.PASS,
    )


def test_one_failing_request_does_not_discard_the_others_in_a_flow() -> None:
    bodies = [fail_body(60007), {"ErrorCode": 0, "RequestId": "av"}]
    handler = RecordingTransport(lambda _r: httpx.Response(200, json=bodies.pop(0)))
    contents = [Content.text("a"), Content.text("b"), Content.video("https://x.example/v.mp4")]
    first, second, video = _run(provider(), contents, handler)
    assert isinstance(first, RateLimited)
    assert second is first
    assert video.decision is Decision.PENDING
