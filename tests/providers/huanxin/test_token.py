"""The app token: fetched once and shared, renewed before it expires, refreshed once
on 401, and bad client credentials are an AuthError."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from moderation_core import AuthError, Decision, ProviderUnavailable
from moderation_core.testing import Clock, RecordingTransport
from moderation_huanxin import HuanxinProvider, token_refresh_margin
from tests.support.providers import failure

from .helpers import CHECK_PATH, TOKEN_PATH, async_moderator, emulator, moderator, sent_json


def test_token_request_is_the_documented_one() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        mod.check("hello")
    token_request = recording.requests[0]
    assert token_request.url.path == TOKEN_PATH
    assert token_request.headers["Content-Type"] == "application/json"
    assert token_request.headers["Accept"] == "application/json"
    assert "Authorization" not in token_request.headers
    body = sent_json(token_request)
    assert body.pop("client_secret")  # sent, never shown
    assert body == {"grant_type": "client_credentials", "client_id": "YXA6client-id-4d1f8e"}


def test_token_ttl_is_sent_when_configured() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, token_ttl=3600) as mod:
        mod.check("hello")
    assert sent_json(recording.requests[0])["ttl"] == 3600


def test_one_token_for_many_sequential_checks() -> None:
    emu = emulator()
    with moderator(emu) as mod:
        for i in range(20):
            assert mod.check(f"message {i}").decision is Decision.PASS
    assert (emu.token_requests, emu.check_requests) == (1, 20)


async def test_one_token_for_many_concurrent_async_checks() -> None:
    emu = emulator()
    async with async_moderator(emu) as mod:
        verdicts = await asyncio.gather(*(mod.check(f"message {i}") for i in range(50)))
    assert all(v.decision is Decision.PASS for v in verdicts)
    assert (emu.token_requests, emu.check_requests) == (1, 50)


async def test_one_token_for_concurrent_async_check_many() -> None:
    emu = emulator()
    async with async_moderator(emu) as mod:
        verdicts = await mod.check_many([f"message {i}" for i in range(30)])
    assert len(verdicts) == 30
    assert emu.token_requests == 1


def test_one_token_for_many_threads() -> None:
    emu = emulator()
    with moderator(emu) as mod, ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(mod.check, [f"message {i}" for i in range(40)]))
    assert len(verdicts) == 40
    assert emu.token_requests == 1


def test_refresh_margin() -> None:
    assert token_refresh_margin(60) == 6
    assert token_refresh_margin(5_184_000) == 3600  # 60 days: renewed an hour early
    assert token_refresh_margin(0) == 0


def test_token_is_renewed_shortly_before_it_expires() -> None:
    clock = Clock()
    emu = emulator(token_ttl=1000, clock=clock)
    with moderator(emu) as mod:
        provider = mod.providers[0]
        assert isinstance(provider, HuanxinProvider)
        provider.clock = clock
        mod.check("one")
        clock.advance(899)  # expires_in 1000, margin 100
        mod.check("two")
        assert emu.token_requests == 1
        clock.advance(2)
        mod.check("three")
        assert emu.token_requests == 2


def test_expires_in_zero_never_expires() -> None:
    clock = Clock()
    emu = emulator(token_ttl=0, clock=clock)
    with moderator(emu) as mod:
        provider = mod.providers[0]
        assert isinstance(provider, HuanxinProvider)
        provider.clock = clock
        mod.check("one")
        clock.advance(10**9)
        mod.check("two")
    assert emu.token_requests == 1


@pytest.mark.parametrize("how", ["expire", "revoke"])
def test_401_fetches_a_new_token_once_and_retries(how: str) -> None:
    emu = emulator()
    recording = RecordingTransport(emu)
    with moderator(recording) as mod:
        mod.check("warm up")
        getattr(emu, f"{how}_tokens")()
        verdict = mod.check("after the token died")
    assert verdict.decision is Decision.PASS
    assert emu.token_requests == 2
    assert recording.paths() == [TOKEN_PATH, CHECK_PATH, CHECK_PATH, TOKEN_PATH, CHECK_PATH]


def test_token_revoked_once_mid_flight_is_refreshed() -> None:
    emu = emulator()
    emu.inject("revoke")
    with moderator(emu) as mod:
        verdict = mod.check("hello")
    assert verdict.decision is Decision.PASS
    assert emu.token_requests == 2


def test_revoke_marker_revokes_every_time_so_the_retry_fails_too() -> None:
    emu = emulator()
    with moderator(emu) as mod:
        error = failure(mod, "hello [[fault:revoke]]")
    assert isinstance(error, AuthError)
    assert emu.token_requests == 2


def test_second_401_is_auth_error() -> None:
    emu = emulator()

    def always_refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path == CHECK_PATH:
            emu.revoke_tokens()
        return emu(request)

    with moderator(always_refuse) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == "auth_bad_access_token"
    assert emu.token_requests == 2  # one refresh, no loop


async def test_many_concurrent_401s_share_one_refresh() -> None:
    emu = emulator()
    async with async_moderator(emu) as mod:
        await mod.check("warm up")
        emu.expire_tokens()
        verdicts = await asyncio.gather(*(mod.check(f"m {i}") for i in range(25)))
    assert len(verdicts) == 25
    assert emu.token_requests == 2


def test_a_401_for_an_old_token_keeps_the_new_one() -> None:
    emu = emulator()
    with moderator(emu) as mod:
        provider = mod.providers[0]
        assert isinstance(provider, HuanxinProvider)
        mod.check("warm up")
        old = provider._token
        assert old is not None
        provider._token = None
        mod.check("fetches a second token")
        new = provider._token
        provider._forget(old)  # a late 401 for the old token
        assert provider._token is new


@pytest.mark.parametrize(
    ("client_id", "client_secret", "description"),
    [
        ("YXA6wrong-id", None, "client_id does not match"),
        (None, "YXA6wrong-secret-123456", "client_secret does not match"),
    ],
)
def test_bad_client_credentials_are_auth_error_without_retry(
    client_id: str | None, client_secret: str | None, description: str
) -> None:
    emu = emulator()
    wrong = {"client_id": client_id, "client_secret": client_secret}
    with moderator(emu, **{k: v for k, v in wrong.items() if v}) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == "invalid_grant"
    assert description in str(error)
    assert (emu.token_requests, emu.check_requests) == (1, 0)


@pytest.mark.parametrize("status", ["500", "503"])
def test_token_endpoint_5xx_is_unavailable(status: str) -> None:
    emu = emulator()
    emu.inject(status, endpoint="token")
    with moderator(emu) as mod:
        assert isinstance(failure(mod), ProviderUnavailable)
        assert mod.check("next time it works").decision is Decision.PASS
    assert emu.token_requests == 2


def test_token_endpoint_rate_limit_is_rate_limited() -> None:
    emu = emulator(retry_after=2)
    emu.inject("reach_limit", endpoint="token")
    with moderator(emu) as mod:
        error = failure(mod)
    assert type(error).__name__ == "RateLimited"
    assert error.retry_after == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in": 100},
        {"access_token": "", "expires_in": 100},
        {"access_token": "YWMtabc", "expires_in": -1},
        {"access_token": "YWMtabc", "expires_in": "100"},
        [],
    ],
)
def test_token_answer_that_does_not_parse_is_protocol_error(body: object) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    with moderator(handler) as mod:
        error = failure(mod)
    assert type(error).__name__ == "ProtocolError"
