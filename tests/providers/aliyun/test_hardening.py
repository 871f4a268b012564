"""Hostile or broken answers are typed errors in bounded time, never a PASS; no
credential in a log line, a repr or an exception."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from moderation_core import (
    AuthError,
    Decision,
    Moderator,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from moderation_core.testing import RecordingTransport, serve
from tests.support.providers import failure

from .helpers import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    SECURITY_TOKEN,
    answering,
    classic_answer,
    config,
    emulator,
    moderator,
    plus_answer,
)


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("garbage", ProtocolError),
        ("nested", ProtocolError),
        ("huge", ProtocolError),
        ("no_level", ProtocolError),
        ("no_data", ProtocolError),
        ("string_code", ProtocolError),
        ("http502", ProviderUnavailable),
        ("http504", ProviderUnavailable),
    ],
)
def test_emulator_faults(fault: str, kind: type[ProviderError]) -> None:
    with moderator(emulator(fault=fault)) as mod:
        error = failure(mod)
    assert isinstance(error, kind)


def test_an_unknown_risk_level_is_review() -> None:
    with moderator(emulator(fault="odd_level")) as mod:
        assert mod.check("hello").decision is Decision.REVIEW


def test_a_reason_that_is_not_json() -> None:
    with moderator(emulator(fault="bad_reason"), action="TextModeration") as mod:
        assert isinstance(failure(mod), ProtocolError)


def _result(**fields: Any) -> dict[str, Any]:
    return {"Label": "pt_to_contact", "Confidence": 90, **fields}


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "OK",
        {},
        {"Code": 200},
        {"Code": 200, "Data": None},
        {"Code": 200, "Data": "high"},
        {"Code": True, "Data": {"RiskLevel": "none"}},
        {"Code": 200.0, "Data": {"RiskLevel": "none"}},
        {"Code": None, "Data": {"RiskLevel": "none"}},
        plus_answer(None, [_result()]),
        plus_answer(""),
        plus_answer(5),
        plus_answer("none", "not a list"),
        plus_answer("none", [{"Label": 5}]),
        plus_answer("none", ["nonLabel"]),
        plus_answer("high", [_result(Confidence="90")]),
        plus_answer("high", [_result(Confidence=100.5)]),
        plus_answer("high", [_result(Confidence=-1)]),
        plus_answer("high", [_result(RiskWords=["a", "b"])]),
        plus_answer("high", [_result(CustomizedHit={"KeyWords": "a"})]),
        plus_answer("high", [_result()] * 101),
        plus_answer("high", [_result(RiskWords=",".join(f"w{i}" for i in range(201)))]),
        plus_answer("high", [_result(RiskWords="x" * 1001)]),
        {"Code": "200", "Data": {"RiskLevel": "none"}},
    ],
)
def test_broken_plus_answers_are_errors(body: Any) -> None:
    with moderator(answering(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError), error


def test_nan_and_infinity_are_not_confidences() -> None:
    for value in (b"NaN", b"Infinity"):
        content = (
            b'{"Code":200,"Data":{"RiskLevel":"high","Result":[{"Label":"ad","Confidence":'
            + value
            + b"}]}}"
        )
        with moderator(answering(content)) as mod:
            assert isinstance(failure(mod), ProtocolError)


@pytest.mark.parametrize(
    "body",
    [
        classic_answer(labels=5),
        classic_answer("ad", "[1, 2]"),
        classic_answer("ad", '{"riskLevel": 3}'),
        classic_answer("ad", "[" * 10_000 + "]" * 10_000),
        classic_answer("ad", {"riskWords": ["a"]}),
        {"Code": 200, "Data": {"labels": "ad", "reason": {"riskLevel": "high"}}},
    ],
)
def test_broken_classic_answers_are_errors(body: Any) -> None:
    with moderator(answering(body), action="TextModeration") as mod:
        assert isinstance(failure(mod), ProtocolError)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"Code": 5, "Message": "x"}, ProviderError),
        (403, {"Code": None}, AuthError),
        (429, b"slow down", RateLimited),
        (500, b"<html/>", ProviderUnavailable),
        (302, b"", ProtocolError),
        (204, b"", ProtocolError),
        (400, b"[" * 100_000, ProviderError),
        (404, {"Code": ["InvalidApi"]}, ProviderError),
        (503, {"Code": "ServiceUnavailable", "Message": {"nested": 1}}, ProviderUnavailable),
    ],
)
def test_gateway_answers_that_are_not_pop_errors(
    status: int, body: Any, kind: type[ProviderError]
) -> None:
    with moderator(answering(body, status=status)) as mod:
        error = failure(mod)
    assert isinstance(error, kind)
    assert error.provider == "aliyun"


def test_a_retry_after_that_is_not_sane_is_ignored() -> None:
    for header in ("-5", "soon", "99999999999", ""):
        body = {"Code": "Throttling.User", "Message": "x", "RequestId": "r"}
        with moderator(answering(body, status=400, headers={"x-acs-retry-after": header})) as mod:
            error = failure(mod)
        assert isinstance(error, RateLimited)
        assert error.retry_after is None


def test_a_huge_error_body_is_not_parsed() -> None:
    body = json.dumps({"Code": "InternalError", "Message": "x" * (3 * 1024 * 1024)}).encode()
    with moderator(answering(body, status=500)) as mod:
        assert isinstance(failure(mod), ProviderUnavailable)


def test_a_vendor_slower_than_the_timeout_is_unavailable() -> None:
    with (
        serve(emulator(slow_seconds=1)) as base_url,
        Moderator.from_config(config(base_url=base_url, timeout=0.1)) as mod,
    ):
        error = failure(mod, "hello [[fault:slow]]")
    assert isinstance(error, ProviderUnavailable)


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_no_credential_in_logs_reprs_or_errors(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = emulator(security_token=SECURITY_TOKEN)
    recording = RecordingTransport(vendor)
    errors: list[BaseException] = []
    with (
        caplog.at_level(logging.DEBUG),
        moderator(recording, signature=scheme, security_token=SECURITY_TOKEN) as mod,
    ):
        mod.check("hello")
        vendor.inject("SignatureDoesNotMatch")
        errors.append(failure(mod))
        vendor.inject("400")
        errors.append(failure(mod))
        texts = [
            repr(mod.providers[0]),
            repr(mod.providers[0].config),
            repr(mod.providers[0].describe()),
        ]
    signatures = [r.url.params.get("Signature") for r in recording.requests] + [
        r.headers.get("Authorization", "").rsplit("Signature=", 1)[-1] for r in recording.requests
    ]
    texts += [record.getMessage() for record in caplog.records]
    for error in errors:
        texts += [str(error), repr(error), repr(error.__cause__), repr(error.__context__)]
    for secret in (ACCESS_KEY_ID, ACCESS_KEY_SECRET, SECURITY_TOKEN, *filter(None, signatures)):
        for text in texts:
            assert secret not in text, text[:200]
