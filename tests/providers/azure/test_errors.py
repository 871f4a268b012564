"""Every error row of issue 12 for ``azure_content_safety``, and hostile answers: each
is a typed ProviderError, never a verdict, and none quotes the key."""

from __future__ import annotations

import httpx
import pytest

from moderation_azure import retry_after
from moderation_core import (
    AllProvidersFailed,
    AuthError,
    Decision,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from moderation_core.testing import Clock
from tests.support.providers import answer, failure

from .helpers import API_KEY, analysis, async_moderator, emulator, error_body, moderator

# -- 401: the gateway's "Access denied" ----------------------------------------------------


def test_a_wrong_key_is_an_auth_error() -> None:
    with moderator(emulator(api_key="0" * 32)) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert not error.retryable
    assert error.code == "401"
    assert "api_key" in str(error)


def test_a_403_is_an_auth_error_too() -> None:
    with moderator(answer(error_body("403", "Forbidden"), 403)) as mod:
        assert isinstance(failure(mod), AuthError)


# -- 429 TooManyRequests --------------------------------------------------------------------


def test_too_many_requests_is_rate_limited_with_retry_after() -> None:
    with moderator(emulator(fault="rate_limit", retry_after=7)) as mod:
        error = failure(mod)
    assert isinstance(error, RateLimited)
    assert error.retryable
    assert (error.code, error.retry_after) == ("TooManyRequests", 7.0)


def test_the_emulators_quota_window_answers_429_with_the_wait() -> None:
    clock = Clock(now=1_700_000_003.0)
    with moderator(emulator(rate_limit=2, clock=clock)) as mod:
        assert mod.check("one").decision is Decision.PASS
        assert mod.check("two").decision is Decision.PASS
        error = failure(mod, "three")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0  # to the end of the 10 s window


def test_a_429_without_retry_after_has_none() -> None:
    with moderator(emulator(fault="rate_limit", retry_after="none")) as mod:
        error = failure(mod)
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_too_many_requests_by_its_code_under_another_status() -> None:
    with moderator(answer(error_body("TooManyRequests"), 400)) as mod:
        assert isinstance(failure(mod), RateLimited)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "250", "Retry-After": "3"}, 0.25),
        ({"x-ms-retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),  # Clock() is 22:13:20
        ({"Retry-After": "Tue, 14 Nov 2023 22:00:00 GMT"}, 0.0),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "whenever"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_what_azure_core_reads(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after(httpx.Headers(headers), Clock()()) == expected


def test_retries_honour_retry_after_and_then_answer() -> None:
    emu = emulator(retry_after=0)
    emu.inject("rate_limit")
    with moderator(emu, retries=1) as mod:
        assert mod.check("hello").decision is Decision.PASS
    assert emu.requests == 2


# -- InternalError / ServerBusy / 5xx ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [("internal", "InternalError"), ("busy", "ServerBusy"), ("502", 502)],
)
def test_server_errors_are_provider_unavailable(fault: str, code: object) -> None:
    with moderator(emulator(fault=fault)) as mod:
        error = failure(mod)
    assert type(error) is ProviderUnavailable
    assert error.retryable
    assert error.code == code


@pytest.mark.parametrize("status", [200, 400, 409])
def test_internal_error_and_server_busy_are_transient_whatever_the_status(status: int) -> None:
    # An odd status with a transient code is still worth another try; a 200 is not an error
    # at all, and without categoriesAnalysis it does not parse.
    with moderator(answer(error_body("ServerBusy"), status)) as mod:
        error = failure(mod)
    expected = ProtocolError if status == 200 else ProviderUnavailable
    assert isinstance(error, expected)


# -- InvalidRequestBody and other client errors --------------------------------------------


def test_invalid_request_body_is_a_plain_provider_error() -> None:
    with moderator(emulator(fault="invalid")) as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert not error.retryable
    assert error.code == "InvalidRequestBody"
    assert "The request body is invalid." in str(error)


def test_an_unknown_blocklist_is_resource_not_found() -> None:
    with moderator(emulator(), blocklists=["NoSuchList"]) as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert error.code == "ResourceNotFound"


def test_the_error_code_header_stands_in_for_a_body_without_one() -> None:
    handler = answer("<html>nope</html>", 400, headers={"x-ms-error-code": "InvalidRequestBody"})
    with moderator(handler) as mod:
        error = failure(mod)
    assert (type(error), error.code) == (ProviderError, "InvalidRequestBody")


def test_a_missing_api_version_is_a_provider_error() -> None:
    with moderator(emulator(), api_version="2099-01-01") as mod:
        error = failure(mod)
    assert (type(error), error.code) == (ProviderError, "404")


def test_vendor_text_is_cut_short_and_scrubbed_of_the_key() -> None:
    body = error_body("InvalidRequestBody", f"bad key {API_KEY} " + "x" * 500)
    with moderator(answer(body, 400)) as mod:
        error = failure(mod)
    assert API_KEY not in str(error)
    assert len(str(error)) < 300


# -- hostile answers: never a verdict --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b"{}",
        b"<html>oops</html>",
        b'{"categoriesAnalysis": [{"category": "Hate", "severity": "4"}]}',
        b'{"categoriesAnalysis": [{"category": "Hate", "severity": 4.0}]}',
        b'{"categoriesAnalysis": [{"category": "Hate", "severity": true}]}',
        b'{"categoriesAnalysis": [{"category": "Hate", "severity": 9}]}',
        b'{"categoriesAnalysis": [{"category": "Hate", "severity": -1}]}',
        b'{"categoriesAnalysis": [{"category": 7, "severity": 0}]}',
        b'{"categoriesAnalysis": {"Hate": 0}}',
        b'{"categoriesAnalysis": [], "blocklistsMatch": [{"blocklistName": "B"}]}',
        b'{"categoriesAnalysis": [{"category": "Hate", "severity": 1' + b"0" * 5000 + b"}]}",
        b"[" * 100_000,
    ],
    ids=lambda body: body[:40].decode(errors="replace"),
)
def test_an_answer_that_does_not_parse_is_a_protocol_error(body: bytes) -> None:
    with moderator(answer(body)) as mod:
        assert isinstance(failure(mod), ProtocolError)


@pytest.mark.parametrize(
    "severities",
    [
        {"Violence": None},  # a severity left out: never a silent PASS
        {"Hate": 7},  # 7 is on the eight-level scale only
        {"Sexual": 5, "Violence": 6, "Hate": None},
    ],
)
def test_severities_off_the_requested_scale_are_protocol_errors(
    severities: dict[str, int | None],
) -> None:
    with moderator(answer(analysis(severities))) as mod:
        assert isinstance(failure(mod), ProtocolError)


def test_a_category_asked_for_and_missing_is_a_protocol_error() -> None:
    body = {"blocklistsMatch": [], "categoriesAnalysis": [{"category": "Hate", "severity": 0}]}
    with moderator(answer(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)
    assert "SelfHarm, Sexual, Violence" in str(error)


@pytest.mark.parametrize("fault", ["garbage", "truncated", "empty", "no_severity"])
def test_the_emulators_broken_answers_are_protocol_errors(fault: str) -> None:
    with moderator(emulator(fault=fault)) as mod:
        assert isinstance(failure(mod), ProtocolError)


def test_an_oversized_answer_is_refused_unread() -> None:
    body = b'{"categoriesAnalysis": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    with moderator(answer(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)
    assert "more than" in str(error)


@pytest.mark.parametrize("status", [201, 204, 302])
def test_a_success_other_than_200_is_not_an_analysis(status: int) -> None:
    with moderator(answer(analysis(), status)) as mod:
        assert isinstance(failure(mod), ProtocolError)


async def test_errors_are_the_same_async() -> None:
    async with async_moderator(emulator(fault="busy")) as mod:
        with pytest.raises(AllProvidersFailed) as caught:
            await mod.check("hello")
    (error,) = caught.value.exceptions
    assert type(error) is ProviderUnavailable
