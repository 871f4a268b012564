"""Every error row of issue 12 for ``openai``, and hostile answers: each is a typed
ProviderError, never a verdict, and none quotes the key."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from moderation_core import (
    AllProvidersFailed,
    AuthError,
    CheckContext,
    Content,
    Decision,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Verdict,
)
from moderation_core.testing import Clock, RecordingTransport
from moderation_openai import retry_after
from tests.support.providers import answer, failure

from .helpers import API_KEY, emulator, error_body, moderator, provider, response, result

# -- 429 -------------------------------------------------------------------------------


def test_rate_limit_exceeded_is_rate_limited_honouring_retry_after_ms() -> None:
    emu = emulator(fault="rate_limit", retry_after_ms=1500, retry_after=9)
    with moderator(emu) as mod:
        error = failure(mod)
    assert isinstance(error, RateLimited)
    assert error.retryable
    assert error.code == "rate_limit_exceeded"
    assert error.retry_after == 1.5  # retry-after-ms wins over retry-after, as in the SDK


def test_rate_limit_falls_back_to_retry_after_seconds() -> None:
    emu = emulator(fault="rate_limit", retry_after_ms="none", retry_after=2)
    with moderator(emu) as mod:
        error = failure(mod)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.0


def test_rate_limit_without_retry_headers_has_no_retry_after() -> None:
    emu = emulator(fault="rate_limit", retry_after_ms="none", retry_after="none")
    with moderator(emu) as mod:
        error = failure(mod)
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "7"}, 7.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),  # Clock() is 22:13:20
        ({"retry-after": "Tue, 14 Nov 2023 22:00:00 GMT"}, 0.0),  # in the past: now
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_both_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(httpx.Headers(headers), Clock()()) == expected


def test_the_emulators_rpm_limit_is_rate_limited_until_the_minute_turns() -> None:
    clock = Clock()
    emu = emulator(rpm=2, clock=clock)
    with moderator(emu) as mod:
        assert mod.check("a").decision is Decision.PASS
        assert mod.check("b").decision is Decision.PASS
        assert isinstance(failure(mod, "c"), RateLimited)
        clock.advance(60)
        assert mod.check("d").decision is Decision.PASS


def test_a_rate_limit_is_retried_when_retries_allow() -> None:
    emu = emulator(retry_after_ms=1)
    emu.inject("rate_limit")
    with moderator(emu, retries=1) as mod:
        verdict = mod.check("you idiot")
    assert verdict.decision is Decision.BLOCK
    assert emu.requests == 2


def test_insufficient_quota_is_not_retryable() -> None:
    emu = emulator(quota=0)
    with moderator(emu, retries=3) as mod:
        error = failure(mod)
    assert type(error) is ProviderError  # not RateLimited: billing, not load
    assert not error.retryable
    assert error.code == "insufficient_quota"
    assert "quota" in error.message
    assert emu.requests == 1  # never retried


def test_insufficient_quota_by_type_alone_is_not_retryable() -> None:
    body = {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}
    with moderator(answer(body, 429), retries=2) as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert error.code == "insufficient_quota"


# -- 401 / 403 -------------------------------------------------------------------------


def test_a_wrong_key_is_an_auth_error_that_does_not_quote_the_key() -> None:
    emu = emulator()
    with moderator(emu, api_key="sk-wrong-key-000000000000abcd", retries=2) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == "invalid_api_key"
    assert emu.requests == 1
    # The service quotes part of the refused key back; we do not pass it on.
    assert "abcd" not in str(error)
    assert "sk-" not in str(error)


def test_a_missing_key_header_is_an_auth_error() -> None:
    emu = emulator()
    request = httpx.Request("POST", "http://openai.test/v1/moderations", json={"input": "x"})
    assert emu(request).status_code == 401
    with moderator(answer(emu(request).content, 401)) as mod:
        assert isinstance(failure(mod), AuthError)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"organization": "org-other"}, "mismatched_organization"),
        ({"project": "proj_other"}, "mismatched_project"),
    ],
)
def test_a_foreign_organization_or_project_is_an_auth_error(
    overrides: dict[str, str], code: str
) -> None:
    emu = emulator(organization="org-mine", project="proj_mine")
    with moderator(emu, **overrides) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == code


def test_403_unsupported_region_is_an_auth_error() -> None:
    with moderator(emulator(fault="region")) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == "unsupported_country_region_territory"


# -- 5xx -------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "slow_down"])
def test_server_errors_are_provider_unavailable(fault: str) -> None:
    with moderator(emulator(fault=fault)) as mod:
        error = failure(mod)
    assert isinstance(error, ProviderUnavailable)
    assert not isinstance(error, RateLimited)
    assert error.retryable


def test_a_server_error_is_retried_when_retries_allow() -> None:
    emu = emulator()
    emu.inject("503")
    with moderator(emu, retries=1) as mod:
        assert mod.check("hello").decision is Decision.PASS
    assert emu.requests == 2


# -- other 4xx -------------------------------------------------------------------------


def test_a_bad_request_is_a_provider_error_with_the_vendor_code() -> None:
    with moderator(emulator(fault="bad_request")) as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert error.code == "invalid_value"
    assert "Invalid value for 'input'" in error.message


def test_an_unknown_model_is_a_provider_error() -> None:
    with moderator(emulator(), model="omni-moderation-9999") as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert error.code == "model_not_found"


def test_a_vendor_message_echoing_the_key_is_scrubbed() -> None:
    body = error_body(f"bad input for key {API_KEY} and sk-proj-abc***xyz", "invalid_request_error")
    with moderator(answer(body, 400)) as mod:
        error = failure(mod)
    assert API_KEY not in str(error)
    assert "sk-proj" not in str(error)
    assert error.code == "invalid_request_error"


def test_a_long_vendor_message_is_cut() -> None:
    with moderator(answer(error_body("x" * 5000, "server_error"), 500)) as mod:
        error = failure(mod)
    assert len(error.message) < 300


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b"", b"null", b'{"error": "flat"}', b'{"error": {"code": 7}}'],
)
def test_an_unreadable_error_body_still_maps_by_status(body: bytes) -> None:
    with moderator(answer(body, 503)) as mod:
        assert isinstance(failure(mod), ProviderUnavailable)
    with moderator(answer(body, 401)) as mod:
        assert isinstance(failure(mod), AuthError)


# -- answers without the expected results -----------------------------------------------


def _many(n: int) -> dict[str, Any]:
    return response(*[result() for _ in range(n)])


def _with(field: str, key: str, value: object) -> dict[str, Any]:
    """A one-result answer with one category's flag or score set to ``value``."""
    item = result()
    item[field][key] = value
    return response(item)


HOSTILE: dict[str, bytes | dict[str, Any] | str] = {
    "garbage": "<html>upstream connect error</html>",
    "empty body": b"",
    "null": b"null",
    "a list": b"[]",
    "no results": {"id": "modr-x", "model": "omni-moderation-latest"},
    "results null": {"results": None},
    "results an object": {"results": {"0": result()}},
    "no result": _many(0),
    "two results for one input": _many(2),
    "result not an object": {"results": ["flagged"]},
    "missing category_scores": {"results": [{"flagged": False, "categories": {}}]},
    "missing flagged": {"results": [{"categories": {}, "category_scores": {}}]},
    "flagged a string": response({**result(), "flagged": "false"}),
    "flagged null": response({**result(), "flagged": None}),
    "a flag a string": _with("categories", "hate", "yes"),
    "a score a string": _with("category_scores", "hate", "0.9"),
    "a score above 1": _with("category_scores", "hate", 1.5),
    "a negative score": _with("category_scores", "hate", -0.1),
    "a score true": _with("category_scores", "hate", True),
    "a score an object": _with("category_scores", "hate", {"value": 0.9}),
    "categories a list": response({**result(), "categories": ["hate"]}),
    "too many categories": response(
        result({f"made-up/{i}": 0.0 for i in range(100)})  # a huge mapping
    ),
    "id a number": {**_many(1), "id": 7},
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_answer_is_a_protocol_error_never_a_verdict(
    body: bytes | dict[str, Any] | str,
) -> None:
    with moderator(answer(body)) as mod:
        error = failure(mod, "I want to kill them.")
    assert isinstance(error, ProtocolError)
    assert API_KEY not in str(error)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_scores_are_protocol_errors(literal: str) -> None:
    text = json.dumps(response(result({"hate": 0.25}))).replace("0.25", literal)
    with moderator(answer(text)) as mod:
        assert isinstance(failure(mod), ProtocolError)


def test_a_deeply_nested_answer_is_a_protocol_error() -> None:
    nested = "[" * 100_000 + "]" * 100_000
    with moderator(answer('{"results": ' + nested + "}")) as mod:
        assert isinstance(failure(mod), ProtocolError)


def test_a_huge_answer_is_refused_unread() -> None:
    huge = json.dumps(response({**result(), "padding": "x" * 200_000}))
    with moderator(answer(huge)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)
    assert "more than" in error.message


@pytest.mark.parametrize("fault", ["garbage", "truncated", "no_results"])
def test_the_emulators_broken_answers_are_protocol_errors(fault: str) -> None:
    with moderator(emulator(fault=fault)) as mod:
        assert isinstance(failure(mod), ProtocolError)


def test_a_fault_marker_fails_only_its_own_request() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, batch_size=1) as mod:
        fine, broken = mod.check_many(["hello", "[[fault:503]] hi"], return_exceptions=True)
    assert isinstance(fine, Verdict)
    assert isinstance(broken, AllProvidersFailed)
    assert isinstance(broken.exceptions[0], ProviderUnavailable)


def test_one_failing_request_of_a_flow_fails_only_its_own_items() -> None:
    """A flow given texts and an image sends two requests; the one that fails puts its
    error in its items' places and the other's verdicts stand."""
    flow = provider().flow(
        [Content.text("hello"), Content.image("https://x.test/nsfw.png")], CheckContext()
    )
    texts = next(flow)
    assert json.loads(texts.content)["input"] == ["hello"]
    image = flow.send(httpx.Response(503, request=texts))
    assert json.loads(image.content)["input"][0]["type"] == "image_url"
    with pytest.raises(StopIteration) as done:
        flow.send(httpx.Response(200, json=response(result({"sexual": 0.98})), request=image))
    text_result, image_result = done.value.value
    assert isinstance(text_result, ProviderUnavailable)
    assert isinstance(image_result, Verdict)
    assert image_result.decision is Decision.BLOCK
