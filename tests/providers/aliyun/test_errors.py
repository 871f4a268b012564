"""Every error row of CONTRACTS-MORE-VENDORS 4.6: the gateway's (non-200, string Code)
and the service's (HTTP 200, numeric Code), each a typed error, never a verdict."""

from __future__ import annotations

import time

import pytest

from moderation_core import (
    AuthError,
    Moderator,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from moderation_core.testing import Clock, RecordingTransport
from tests.support.providers import failure

from .helpers import ACCESS_KEY_ID, ACCESS_KEY_SECRET, answering, config, emulator, moderator

POP_ROWS = [
    ("SignatureDoesNotMatch", AuthError, "check access_key_secret"),
    ("IncompleteSignature", AuthError, "check access_key_secret"),
    ("InvalidAccessKeyId.NotFound", AuthError, "check access_key_id"),
    ("InvalidAccessKeyId.Inactive", AuthError, "check access_key_id"),
    ("InvalidTimeStamp.Expired", AuthError, "clock is more than 15 minutes off"),
    ("InvalidTimeStamp.Format", AuthError, "check the credentials"),
    ("SignatureNonceUsed", AuthError, "one nonce"),
    ("InvalidSecurityToken.MismatchWithAccessKey", AuthError, "check the credentials"),
    ("Forbidden.RAM", AuthError, "AliyunYundunGreenWebFullAccess"),
    ("Throttling", RateLimited, "throttled"),
    ("Throttling.User", RateLimited, "throttled"),
    ("MissingParameter", ProviderError, "MissingParameter"),
    ("InvalidApi.NotFound", ProviderError, "InvalidApi.NotFound"),
    ("InternalError", ProviderUnavailable, "unavailable"),
    ("ServiceUnavailable", ProviderUnavailable, "unavailable"),
]
BUSINESS_ROWS = [
    (280, ProviderUnavailable, "PROCESSING"),
    (400, ProviderError, "BAD_REQUEST"),
    (401, AuthError, "NOT_ALLOWED"),
    (403, RateLimited, "QPS"),
    (404, ProviderError, "NOT_FOUND"),
    (480, ProviderError, "DOWNLOAD_FAILED"),
    (500, ProviderUnavailable, "GENERAL_ERROR"),
    (503, ProviderUnavailable, "ServiceUnavailable"),
    (580, ProviderUnavailable, "DB_FAILED"),
    (581, ProviderUnavailable, "TIMEOUT"),
    (586, ProviderUnavailable, "ALGO_FAILED"),
    (588, ProviderError, "quota is used up"),
    (592, ProviderUnavailable, "DOWNLOAD_TIMEOUT"),
    (594, ProviderError, "EXPIRED"),
    (596, AuthError, "PERMISSION_DENY"),
]


def _exactly(error: ProviderError, kind: type[ProviderError]) -> None:
    # ProviderError rows must not be a subclass that changes retry or failover meaning.
    assert type(error) is kind, f"{type(error).__name__} is not {kind.__name__}"


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
@pytest.mark.parametrize(("code", "kind", "says"), POP_ROWS, ids=[r[0] for r in POP_ROWS])
def test_gateway_errors(scheme: str, code: str, kind: type[ProviderError], says: str) -> None:
    with moderator(emulator(fault=code), signature=scheme) as mod:
        error = failure(mod)
    _exactly(error, kind)
    assert error.code == code
    assert error.provider == "aliyun"
    assert says in str(error)
    if kind is RateLimited:
        assert isinstance(error, RateLimited)
        assert error.retry_after == 1.0  # x-acs-retry-after: 1000 ms


@pytest.mark.parametrize(
    ("code", "kind", "says"), BUSINESS_ROWS, ids=[str(r[0]) for r in BUSINESS_ROWS]
)
def test_business_codes(code: int, kind: type[ProviderError], says: str) -> None:
    with moderator(emulator(fault=str(code))) as mod:
        error = failure(mod)
    _exactly(error, kind)
    assert error.code == code
    assert says in str(error)


def test_an_unlisted_business_code() -> None:
    with moderator(answering({"Code": 599, "Message": "something new", "RequestId": "r"})) as mod:
        error = failure(mod)
    _exactly(error, ProviderError)
    assert error.code == 599
    assert "something new" in str(error)


def test_retryability_lives_in_the_class() -> None:
    assert ProviderUnavailable("x").retryable
    assert RateLimited("x").retryable
    assert not AuthError("x").retryable
    assert not ProviderError("x", code=588).retryable


# -- the real thing, not injected ----------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_a_wrong_secret_never_echoes_what_was_signed(scheme: str) -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, signature=scheme, access_key_secret="not-the-right-secret") as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == "SignatureDoesNotMatch"
    assert len(recording.requests) == 1  # never retried
    # The gateway quoted its string to sign (with the AccessKey id in it for V1).
    response = recording.exchanges[0].response
    assert response is not None
    assert "server string to sign" in response.text
    for text in (str(error), repr(error), repr(error.args)):
        assert ACCESS_KEY_ID not in text
        assert "not-the-right-secret" not in text
        assert "string to sign" not in text


def test_an_unknown_key_id() -> None:
    with moderator(emulator(), access_key_id="LTAIsomeoneElse12") as mod:
        error = failure(mod)
    assert (type(error), error.code) == (AuthError, "InvalidAccessKeyId.NotFound")
    assert "LTAIsomeoneElse12" not in str(error)


def test_a_clock_off_by_an_hour() -> None:
    with moderator(emulator(clock=Clock(now=time.time() + 3600))) as mod:
        error = failure(mod)
    assert (type(error), error.code) == (AuthError, "InvalidTimeStamp.Expired")
    assert "NTP" in str(error)


def test_throttled_by_the_emulator_s_own_limit() -> None:
    vendor = emulator(rate_limit=1, clock=Clock(now=time.time()))
    with moderator(vendor) as mod:
        mod.check("hello")
        error = failure(mod)
    assert (type(error), error.code) == (RateLimited, "Throttling.User")


def test_a_retry_is_signed_anew() -> None:
    # A retry re-runs the flow: a fresh nonce and timestamp, never SignatureNonceUsed.
    vendor = emulator()
    vendor.inject("ServiceUnavailable")
    recording = RecordingTransport(vendor)
    with Moderator.from_config(config(retries=1), transport=recording) as mod:
        verdict = mod.check("hello")
    assert verdict.provider == "aliyun"
    nonces = [r.headers["x-acs-signature-nonce"] for r in recording.requests]
    assert len(nonces) == 2
    assert len(set(nonces)) == 2


def test_service_refused_by_the_account() -> None:
    with moderator(emulator(services="comment_detection_pro")) as mod:
        error = failure(mod)
    assert (type(error), error.code) == (ProviderError, 400)
    assert "service" in str(error)


def test_messages_are_scrubbed_of_credentials() -> None:
    echo = f"bad key {ACCESS_KEY_ID} secret {ACCESS_KEY_SECRET} " + "x" * 500
    with moderator(answering({"Code": 400, "Message": echo, "RequestId": "r"})) as mod:
        error = failure(mod)
    assert ACCESS_KEY_ID not in str(error)
    assert ACCESS_KEY_SECRET not in str(error)
    assert "***" in str(error)
    assert len(str(error)) < 500
