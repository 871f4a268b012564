"""Every row of the error table (CONTRACTS 4.3, seed 004) maps to the right error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from moderation_core import (
    AllProvidersFailed,
    AuthError,
    InvalidContent,
    Moderator,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from moderation_core.testing import Clock
from tests.support.providers import failure

from .helpers import answering, config, emulator, moderator


def error_body(error: str, description: str, **extra: Any) -> dict[str, Any]:
    body = {
        "error": error,
        "exception": "org.apache.usergrid.rest.exceptions.RestException",
        "timestamp": 1542350943210,
        "duration": 0,
        "error_description": description,
    }
    body.update(extra)
    return body


def check_answers(status: int, body: Any = None, **kwargs: Any) -> ProviderError:
    def answer(_request: httpx.Request) -> httpx.Response:
        if isinstance(body, (bytes, str)):
            return httpx.Response(status, content=body, **kwargs)
        return httpx.Response(status, json=body, **kwargs)

    with moderator(answering(answer)) as mod:
        return failure(mod)


def test_429_reach_limit_is_rate_limited_with_retry_after() -> None:
    body = error_body("reach_limit", "This request has reached api limit")
    error = check_answers(429, body, headers={"Retry-After": "3"})
    assert type(error) is RateLimited
    assert error.retryable
    assert (error.retry_after, error.code) == (3.0, "reach_limit")


def test_429_reach_limit_without_retry_after() -> None:
    error = check_answers(429, error_body("reach_limit", "This request has reached api limit"))
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_retry_after_as_http_date() -> None:
    body = error_body("reach_limit", "limit")
    error = check_answers(429, body, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 0.0  # in the past


def test_emulator_rate_limit_answers_reach_limit() -> None:
    clock = Clock()
    emu = emulator(rate_limit=3, retry_after=1, clock=clock)
    with moderator(emu) as mod:
        for i in range(3):
            mod.check(f"ok {i}")
        error = failure(mod)
        assert isinstance(error, RateLimited)
        assert error.retry_after == 1.0
        clock.advance(1)
        assert mod.check("next second").decision.value == "PASS"


def test_429_resource_limited_is_not_retryable() -> None:
    body = error_body("resource_limited", "You have exceeded the limit of the Free edition")
    error = check_answers(429, body)
    assert type(error) is ProviderError
    assert not error.retryable
    assert error.code == "resource_limited"


def test_emulator_quota_answers_resource_limited() -> None:
    with moderator(emulator(quota=1)) as mod:
        mod.check("the one allowed")
        error = failure(mod)
    assert type(error) is ProviderError
    assert error.code == "resource_limited"


@pytest.mark.parametrize(
    ("state", "code"), [("not_open", 4000404), ("not_active", 4000404), ("no_rule", 4000303)]
)
def test_moderation_not_enabled_is_provider_error(state: str, code: int) -> None:
    with moderator(emulator(moderation=state)) as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert not error.retryable
    assert error.code == code
    assert "not enabled" in str(error)


def test_not_open_with_the_code_in_the_error_field() -> None:
    error = check_answers(400, error_body("4000404", "text moderation not open"))
    assert type(error) is ProviderError
    assert "not enabled" in str(error)


def test_404_app_not_found_names_what_to_check() -> None:
    with moderator(emulator(), app_name="other-app") as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert error.code == "organization_application_not_found"
    for hint in ("org_name", "app_name", "region", "base_url"):
        assert hint in str(error)


@pytest.mark.parametrize("text", ["orgName not found", "application not found"])
def test_400_org_or_app_not_found(text: str) -> None:
    error = check_answers(400, error_body("bad_request", text, code=4000303))
    assert type(error) is ProviderError
    assert "org_name" in str(error)
    assert error.code == 4000303


@pytest.mark.parametrize("status", [500, 501, 502, 503, 504])
def test_5xx_is_unavailable(status: int) -> None:
    error = check_answers(status, error_body("server_error", "boom"))
    assert type(error) is ProviderUnavailable
    assert error.retryable


def test_5xx_with_an_html_body_is_still_unavailable() -> None:
    assert type(check_answers(502, b"<html>Bad Gateway</html>")) is ProviderUnavailable


@pytest.mark.parametrize("fault", ["500", "503", "garbage"])
def test_emulator_faults(fault: str) -> None:
    expected = ProtocolError if fault == "garbage" else ProviderUnavailable
    with moderator(emulator()) as mod:
        assert type(failure(mod, f"hi [[fault:{fault}]]")) is expected


def test_timeout_is_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    error = check_answers_with(slow)
    assert type(error) is ProviderUnavailable
    assert "timed out" in str(error)


def check_answers_with(handler: Any) -> ProviderError:
    with moderator(answering(handler)) as mod:
        return failure(mod)


def test_413_is_provider_error() -> None:
    with moderator(emulator(max_body_bytes=64)) as mod:
        error = failure(mod, "x" * 100)
    assert type(error) is ProviderError
    assert "too large" in str(error)
    assert error.code == 413


def test_415_and_other_4xx_are_provider_errors() -> None:
    error = check_answers(415, error_body("web_application", "Unsupported Media Type"))
    assert type(error) is ProviderError
    assert error.code == "web_application"


def test_200_with_a_failing_code_in_the_body() -> None:
    body = {"code": 503, "data": None}
    assert type(check_answers(200, body)) is ProviderUnavailable


def test_empty_content_400_maps_but_empty_text_never_reaches_the_vendor() -> None:
    error = check_answers(400, error_body("bad_request", "message content is empty or null"))
    assert type(error) is ProviderError

    emu = emulator()
    with Moderator.from_config(config(), transport=httpx.MockTransport(emu)) as mod:
        for empty in ("", "   ", "\n\t"):
            with pytest.raises(InvalidContent):
                mod.check(empty)
    assert emu.token_requests + emu.check_requests == 0


def test_emulator_answers_empty_content_with_4000005() -> None:
    emu = emulator()
    token = emu(
        httpx.Request(
            "POST",
            "http://h/fake-org/fake-app/token",
            json={
                "grant_type": "client_credentials",
                "client_id": emu.client_id,
                "client_secret": "YXA6client-secret-9b2c7a5e3f1d",
            },
        )
    ).json()["access_token"]
    answer = emu(
        httpx.Request(
            "POST",
            "http://h/fake-org/fake-app/moderation/txt/check",
            json={"content": " "},
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    assert answer.status_code == 400
    assert answer.json()["error_description"] == "message content is empty or null"
    assert set(answer.json()) >= {"error", "exception", "timestamp", "duration"}


def test_errors_fall_back_to_the_next_provider() -> None:
    cfg = {
        "moderation": {"providers": ["huanxin", "local"]},
        "providers": {**config()["providers"], "local": {"type": "local"}},
    }
    with Moderator.from_config(cfg, transport=httpx.MockTransport(emulator(fault="503"))) as mod:
        verdict = mod.check("hello")
    assert verdict.provider == "local"


def test_auth_error_is_not_swallowed_as_all_failed_without_reason() -> None:
    with (
        moderator(emulator(), client_secret="YXA6wrong-secret-123456") as mod,
        pytest.raises(AllProvidersFailed) as info,
    ):
        mod.check("x")
    assert isinstance(info.value.exceptions[0], AuthError)
