"""Hostile or broken answers are typed errors in bounded time, never a PASS; no
credential in any error, log line or repr."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from moderation_core import Decision, Moderator, ProtocolError, ProviderError
from moderation_core.testing import RecordingTransport
from moderation_shumei.emulator import FAULTS
from tests.support.providers import failure

from .helpers import ACCESS_KEY, answer, answering, config, emulator, moderator

LABEL = {"riskLevel": "REJECT", "riskLabel1": "ad"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502</html>",
        b"null",
        b"[]",
        b'"1100"',
        b"{}",
        b'{"code": 1100',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"code": "1100", "riskLevel": "PASS"}',
        b'{"code": 1100.0, "riskLevel": "PASS"}',
        b'{"code": true, "riskLevel": "PASS"}',
        b'{"code": 1100}',
        b'{"code": 1100, "riskLevel": ""}',
        b'{"code": 1100, "riskLevel": 1}',
        b'{"code": 1100, "riskLevel": "PASS", "riskLabel1": ["normal"]}',
        b'{"code": 1100, "riskLevel": "PASS", "allLabels": {"0": {}}}',
        b'{"code": 1100, "riskLevel": "PASS", "allLabels": "[]"}',
        b'{"code": 1100, "riskLevel": "PASS", "riskDetail": "none"}',
        b'{"code": 1100, "riskLevel": "PASS", "auxInfo": {"filteredText": 5}}',
        b'{"code": 1100, "riskLevel": "REJECT", "allLabels": [{"probability": NaN}]}',
        b'{"code": 1100, "riskLevel": "REJECT", "allLabels": [{"probability": Infinity}]}',
        b'{"code": 1100, "riskLevel": "REJECT", "allLabels": [{"probability": "0.9"}]}',
        b'{"code": 1100, "riskLevel": "REJECT", "allLabels": [{"probability": true}]}',
    ],
    ids=lambda body: body[:40].decode(errors="replace"),
)
def test_broken_answers_are_protocol_errors(body: bytes) -> None:
    with moderator(answering(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError), error
    assert error.provider == "shumei"


@pytest.mark.parametrize("probability", [-0.1, 1.5, 100])
def test_probability_outside_zero_to_one_is_refused(probability: float) -> None:
    all_labels = [{"riskLabel1": "ad", "probability": probability}]
    with moderator(answering(answer(**LABEL, allLabels=all_labels))) as mod:
        assert isinstance(failure(mod), ProtocolError)


def words(count: int, size: int = 2) -> dict[str, Any]:
    listed = [{"word": f"{i:0{size}d}"} for i in range(count)]
    return {"matchedLists": [{"name": "l", "words": listed}]}


def test_bounded_keywords() -> None:
    with moderator(answering(answer(**LABEL, riskDetail=words(200)))) as mod:
        assert len(mod.check("x").keywords) == 200
    with moderator(answering(answer(**LABEL, riskDetail=words(201)))) as mod:
        assert "201 matched words" in str(failure(mod))
    with moderator(answering(answer(**LABEL, riskDetail=words(1, size=1001)))) as mod:
        assert isinstance(failure(mod), ProtocolError)


def test_a_huge_answer_is_refused_before_it_is_parsed() -> None:
    body = answer(**LABEL, padding="x" * (3 * 1024 * 1024))
    with moderator(answering(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)
    assert "bytes" in str(error)


def test_unknown_extra_fields_are_ignored() -> None:
    body = answer(**LABEL, newField={"deep": [1, 2, 3]}, disposal={"riskLevel": "PASS"})
    with moderator(answering(body)) as mod:
        assert mod.check("x").decision is Decision.BLOCK


@pytest.mark.parametrize(
    "fault",
    ["garbage", "nested", "huge", "no_level", "string_code", "500", "502", "503"],
)
def test_emulator_faults_never_pass(fault: str) -> None:
    with moderator(emulator()) as mod:
        error = failure(mod, f"hello [[fault:{fault}]]")
    assert isinstance(error, ProviderError)
    assert fault in FAULTS


def test_an_odd_risk_level_is_review_not_pass() -> None:
    with moderator(emulator(fault="odd_level")) as mod:
        assert mod.check("hello").decision is Decision.REVIEW


def test_a_vendor_message_quoting_the_key_is_scrubbed() -> None:
    body = {"code": 9101, "message": f"bad accessKey {ACCESS_KEY}\n" + "y" * 500, "requestId": "r"}
    with moderator(answering(body)) as mod:
        error = failure(mod)
    text = f"{error} {error!r} {error.args!r}"
    assert ACCESS_KEY not in text
    assert "***" in text
    assert len(str(error)) < 500
    assert "\n" not in str(error)


def test_no_credential_in_errors_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    emu = emulator()
    recording = RecordingTransport(emu)
    seen: list[str] = []
    with (
        caplog.at_level(logging.DEBUG),
        Moderator.from_config(config(), transport=recording) as mod,
    ):
        seen += [repr(mod), repr(mod.providers[0]), repr(mod.providers[0].config), repr(emu)]
        for fault in FAULTS:
            if fault == "slow":
                continue
            try:
                seen.append(repr(mod.check(f"x [[fault:{fault}]]")))
            except Exception as exc:  # every error: its text is what we inspect
                seen += [str(exc), repr(exc), repr(exc.__cause__), repr(exc.__context__)]
                seen += [f"{e} {e!r}" for e in getattr(exc, "exceptions", ())]
    seen += [record.getMessage() for record in caplog.records]
    assert recording.requests  # the key was really sent...
    assert all(ACCESS_KEY not in text for text in seen)  # ...and shown nowhere


def test_transport_errors_keep_the_body_out_of_the_message() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {request.content!r}", request=request)

    with moderator(refuse) as mod:
        error = failure(mod)
    # The core words transport errors itself; a transport that quotes the body stays out.
    assert ACCESS_KEY not in f"{error} {error!r}"
