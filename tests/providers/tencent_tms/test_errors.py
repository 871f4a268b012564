"""Every error row of issue 12 item 3 (CONTRACTS-MORE-VENDORS 1.9) maps to its typed
error, and a hostile answer is a typed error in bounded time, never a verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from moderation_core import (
    AuthError,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from tests.support.providers import failure

from .helpers import answering, error_body, moderator, ok_body


def _error_for(body: Any, status: int = 200, **headers: str) -> ProviderError:
    with moderator(answering(body, status, **headers)) as mod:
        return failure(mod)


@pytest.mark.parametrize(
    "code",
    [
        "AuthFailure.InvalidAuthorization",
        "AuthFailure.InvalidSecretId",
        "AuthFailure.MFAFailure",
        "AuthFailure.SecretIdNotFound",
        "AuthFailure.SignatureExpire",
        "AuthFailure.SignatureFailure",
        "AuthFailure.TokenFailure",
        "AuthFailure.UnauthorizedOperation",
        "UnauthorizedOperation",
        "IpInBlacklist",
        "IpNotInWhitelist",
    ],
)
def test_auth_failures_are_auth_errors(code: str) -> None:
    error = _error_for(error_body(code, "The provided credentials could not be validated."))
    assert type(error) is AuthError
    assert not error.retryable
    assert error.code == code
    assert code in str(error)


def test_signature_expire_says_the_clock_is_off() -> None:
    error = _error_for(error_body("AuthFailure.SignatureExpire", "signature expired"))
    assert isinstance(error, AuthError)
    assert "clock is off" in str(error)


@pytest.mark.parametrize(
    "code",
    [
        "RequestLimitExceeded",
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
        "RequestLimitExceeded.IPLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "InternalError.QueryReqLimited",
        "LimitExceeded",
    ],
)
def test_rate_limits_are_rate_limited(code: str) -> None:
    error = _error_for(error_body(code))
    assert type(error) is RateLimited
    assert error.retryable
    assert error.code == code


@pytest.mark.parametrize(
    "code",
    [
        "InternalError",
        "InternalError.ErrTextTimeOut",
        "ServiceUnavailable",
        "ResourceUnavailable",
        "ResourceUnavailable.ImageDownloadError",
        "ResourceUnavailable.InQueueError",
        "ResourceUnavailable.ModelCallFailed",
        "FailedOperation",
        "ResourceInsufficient",
    ],
)
def test_server_side_errors_are_provider_unavailable(code: str) -> None:
    error = _error_for(error_body(code))
    assert type(error) is ProviderUnavailable
    assert error.retryable


@pytest.mark.parametrize("code", ["UnauthorizedOperation.Unauthorized", "ResourcesSoldOut"])
def test_not_activated_or_unpaid_is_not_retryable(code: str) -> None:
    error = _error_for(error_body(code, "未开通权限/无有效套餐包/账号已欠费"))
    assert type(error) is ProviderError
    assert not error.retryable
    assert "retry" in str(error) or "used up" in str(error)


@pytest.mark.parametrize(
    "code",
    [
        "InvalidParameter",
        "InvalidParameter.ErrAction",
        "InvalidParameter.ParameterError",
        "InvalidParameterValue.ErrTextContentLen",
        "InvalidParameterValue.ErrTextContentType",
        "InvalidParameterValue.InvalidBizType",
        "InvalidParameter.ImageSizeTooSmall",
        "MissingParameter",
        "UnknownParameter",
        "InvalidAction",
        "UnsupportedRegion",
        "SomethingNew.NeverSeen",
    ],
)
def test_request_errors_are_plain_provider_errors(code: str) -> None:
    error = _error_for(error_body(code))
    assert type(error) is ProviderError
    assert not error.retryable
    assert error.code == code


def test_http_429_honours_retry_after() -> None:
    error = _error_for({"error": "slow down"}, 429, **{"Retry-After": "3"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 3.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx_is_unavailable(status: int) -> None:
    assert type(_error_for(b"gateway", status)) is ProviderUnavailable


def test_vendor_message_is_cut_short() -> None:
    error = _error_for(error_body("InvalidParameter", "x" * 5000))
    assert len(str(error)) < 400


DEEP = b"[" * 200_000 + b"]" * 200_000
HOSTILE: list[tuple[str, Any]] = [
    ("not JSON", b"\x00\x17not json{"),
    ("empty", b""),
    ("null", b"null"),
    ("a list", b"[]"),
    ("no Response", {"Suggestion": "Pass"}),
    ("Response null", {"Response": None}),
    ("Response a string", {"Response": "Pass"}),
    ("nested too deep", DEEP),
    ("over 1 MiB", b'{"Response": {"Suggestion": "Pass", "Pad": "' + b"x" * (1 << 20) + b'"}}'),
    ("no Suggestion", ok_body(drop=("Suggestion",))),
    ("Suggestion null", ok_body(Suggestion=None)),
    ("Suggestion a number", ok_body(Suggestion=1)),
    ("Score a string", ok_body(Score="99")),
    ("Score a float", ok_body(Score=99.5)),
    ("Score a bool", ok_body(Score=True)),
    ("Score over 100", ok_body(Score=101)),
    ("Label a list", ok_body(Label=["Porn"])),
    ("Keywords a string", ok_body(Keywords="abc")),
    ("Keywords of numbers", ok_body(Keywords=[1, 2])),
    ("too many Keywords", ok_body(Keywords=["k"] * 101)),
    ("a huge keyword", ok_body(Keywords=["k" * 257])),
    ("Error null", {"Response": {"Error": None, "RequestId": "r"}}),
    ("Error without Code", {"Response": {"Error": {"Message": "m"}, "RequestId": "r"}}),
    ("Error Code a number", {"Response": {"Error": {"Code": 4000}, "RequestId": "r"}}),
    ("HTTP 200 HTML", b"<html>gateway</html>"),
]


@pytest.mark.parametrize(("what", "body"), HOSTILE, ids=[what for what, _ in HOSTILE])
def test_hostile_answers_are_protocol_errors(what: str, body: Any) -> None:
    error = _error_for(body)
    assert isinstance(error, ProtocolError), what


def test_an_error_beside_a_suggestion_is_still_an_error() -> None:
    body = ok_body(Suggestion="Pass", Error={"Code": "InternalError", "Message": "m"})
    assert type(_error_for(body)) is ProviderUnavailable


def test_unknown_suggestion_is_review_never_pass() -> None:
    with moderator(answering(ok_body(Suggestion="Maybe", Label="Porn", Score=50))) as mod:
        verdict = mod.check("hello")
    assert verdict.decision.name == "REVIEW"


def test_protocol_error_messages_hold_no_answer_dump() -> None:
    body = ok_body(Score="AKIDsecretlooking0123456789")
    error = _error_for(body)
    assert "AKIDsecretlooking" not in str(error)
    assert json.dumps(body) not in str(error)
