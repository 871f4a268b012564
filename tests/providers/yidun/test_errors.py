"""Every error row of issue 13 item 2 and the rest of the code tables, HTTP failures,
and hostile answers (garbage, nesting, missing fields, wrong types, huge): each a
typed error, never a verdict."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from moderation_core import (
    AllProvidersFailed,
    AuthError,
    Decision,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from moderation_core.testing import Clock, RecordingTransport
from tests.support.providers import failure

from .helpers import NOW, SECRETS, answer, antispam, emulator, form, moderator

# The issue's rows: code -> class.
ISSUE_ROWS: list[tuple[int, type[ProviderError]]] = [
    (411, RateLimited),
    (410, AuthError),
    (401, AuthError),
    (5508, AuthError),
    (420, AuthError),
    (5501, AuthError),
    (504, ProviderError),
    (500, ProviderUnavailable),
    (503, ProviderUnavailable),
]
# The rest of both tables (CONTRACTS-MORE-VENDORS 5a.5), and a code no table has.
OTHER_ROWS: list[tuple[int, type[ProviderError]]] = [
    (5506, AuthError),
    (430, ProviderUnavailable),
    *[
        (code, ProviderError)
        for code in (400, 402, 404, 405, 505, 508, 5502, 5504, 5505, 5507, 5509, 5511, 5512, 9999)
    ],
]


def refused(code: int, msg: str = "refused") -> dict[str, Any]:
    return {"code": code, "msg": msg}


@pytest.mark.parametrize(("code", "kind"), ISSUE_ROWS + OTHER_ROWS, ids=str)
def test_body_code_maps_to_its_class(code: int, kind: type[ProviderError]) -> None:
    with moderator(answer(refused(code, f"vendor says {code}"))) as mod:
        error = failure(mod)
    assert type(error) is kind
    assert error.code == code
    assert error.provider == "yidun"
    assert f"vendor says {code}" in str(error)


@pytest.mark.parametrize("code", [420, 5501])
def test_an_expired_timestamp_says_the_clock_is_off(code: int) -> None:
    with moderator(answer(refused(code, "request expired"))) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert "clock is off" in str(error)
    assert not error.retryable


def test_quota_exceeded_is_not_retryable_and_not_a_rate_limit() -> None:
    with moderator(answer(refused(504, "quota exceeded"))) as mod:
        error = failure(mod)
    assert type(error) is ProviderError
    assert not error.retryable
    assert "quota" in str(error)


def test_retryability_follows_the_class() -> None:
    for code, retryable in ((411, True), (500, True), (503, True), (410, False), (504, False)):
        with moderator(answer(refused(code))) as mod:
            assert failure(mod).retryable is retryable, code


def test_a_rate_limit_is_retried_when_retries_are_configured() -> None:
    calls = iter([refused(411), antispam(suggestion=0)])

    def handler(request: httpx.Request) -> httpx.Response:
        body = next(calls)
        if "result" in body:
            body["result"]["antispam"]["dataId"] = form(request)["dataId"]
        return httpx.Response(200, json=body)

    recording = RecordingTransport(handler)
    with moderator(recording, retries=1) as mod:
        verdict = mod.check("hello")
    assert verdict.decision is Decision.PASS
    assert len(recording.requests) == 2
    nonces = {form(r)["nonce"] for r in recording.requests}
    assert len(nonces) == 2  # a retry is signed anew


# -- the emulator's refusals, end to end ------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "expected"), [("auth", 410), ("text", 5508)], ids=["auth-table", "text-table"]
)
def test_a_wrong_secret_key_is_an_auth_error(codes: str, expected: int) -> None:
    with moderator(emulator(codes=codes), secret_key="not-the-key") as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == expected


@pytest.mark.parametrize(
    ("codes", "expected"), [("auth", 420), ("text", 5501)], ids=["auth-table", "text-table"]
)
def test_a_clock_far_off_is_an_auth_error_naming_the_clock(codes: str, expected: int) -> None:
    vendor = emulator(codes=codes, clock=Clock(NOW + 3600))  # the vendor's clock an hour on
    with moderator(vendor) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == expected
    assert "clock is off" in str(error)


def test_a_business_id_the_vendor_does_not_know_is_an_auth_error() -> None:
    with moderator(emulator(), business_id="not-mine") as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert "business_id" in str(error)


def test_the_emulator_s_rate_limit_is_rate_limited() -> None:
    # The vendor's clock stands still, so both requests fall in its same second.
    with moderator(emulator(rate_limit=1, clock=Clock(time.time()))) as mod:
        mod.check("one")
        error = failure(mod, "two")
    assert isinstance(error, RateLimited)
    assert error.code == 411


def test_the_emulator_s_quota_is_quota_exceeded() -> None:
    with moderator(emulator(quota=3)) as mod:
        mod.check_many(["a", "b", "c"])
        error = failure(mod, "d")
    assert (type(error), error.code) == (ProviderError, 504)


# -- HTTP failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
        (504, ProviderUnavailable),
        (429, RateLimited),
        (401, AuthError),
        (403, AuthError),
        (404, ProviderError),
        (302, ProtocolError),
    ],
)
def test_http_status_maps_to_its_class(status: int, kind: type[ProviderError]) -> None:
    with moderator(answer("<html>oops</html>", status=status)) as mod:
        error = failure(mod)
    assert type(error) is kind


@pytest.mark.parametrize("fault", ["http500", "http502", "http503"])
def test_emulated_server_errors_are_unavailable(fault: str) -> None:
    with moderator(emulator(fault=fault)) as mod:
        assert isinstance(failure(mod), ProviderUnavailable)


# -- hostile answers ----------------------------------------------------------------------

KEYWORD_7 = {"details": {"keywords": [{"word": 7}]}}


def body(**fields: Any) -> bytes:
    return json.dumps({"code": 200, "result": {"antispam": fields}}).encode()


HOSTILE: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not json", b"\x00\x17not json{"),
    ("html", b"<html><body>gateway</body></html>"),
    ("not utf-8", b'{"code":200,"msg":"\xff\xfe"}'),
    ("null", b"null"),
    ("a list", b"[]"),
    ("a number", b"200"),
    ("no code", b'{"msg":"ok","result":{}}'),
    ("code as a string", b'{"code":"200","result":{}}'),
    ("code as a bool", b'{"code":true,"result":{}}'),
    ("code as a float", b'{"code":200.0,"result":{}}'),
    ("no result", b'{"code":200,"msg":"ok"}'),
    ("result a list for one text", b'{"code":200,"result":[]}'),
    ("result without antispam", b'{"code":200,"result":{}}'),
    ("antispam a string", b'{"code":200,"result":{"antispam":"pass"}}'),
    ("no suggestion", b'{"code":200,"result":{"antispam":{"label":0}}}'),
    ("suggestion null", b'{"code":200,"result":{"antispam":{"suggestion":null}}}'),
    ("suggestion a string", b'{"code":200,"result":{"antispam":{"suggestion":"0"}}}'),
    ("suggestion a float", b'{"code":200,"result":{"antispam":{"suggestion":0.0}}}'),
    ("label a string", b'{"code":200,"result":{"antispam":{"suggestion":0,"label":"0"}}}'),
    ("labels an object", b'{"code":200,"result":{"antispam":{"suggestion":0,"labels":{}}}}'),
    ("labels a string", b'{"code":200,"result":{"antispam":{"suggestion":0,"labels":"x"}}}'),
    ("a label entry without its code", body(suggestion=2, labels=[{"rate": 1}])),
    ("rate a string", body(suggestion=2, labels=[{"label": 600, "rate": "0.9"}])),
    ("keyword a number", body(suggestion=2, labels=[{"label": 600, "subLabels": [KEYWORD_7]}])),
    ("a sub label a string", body(suggestion=2, labels=[{"label": 600, "subLabels": ["x"]}])),
    ("taskId a number", b'{"code":200,"result":{"antispam":{"suggestion":0,"taskId":7}}}'),
    ("nested", b'{"code":200,"result":' + b"[" * 100_000),
    ("deep nesting", b'{"code":200,"result":{"antispam":' + b'{"a":' * 5_000 + b"1" + b"}" * 5_002),
    ("a truncated answer", json.dumps(antispam(suggestion=0)).encode()[:-3]),
]  # fmt: skip


@pytest.mark.parametrize("body", [b for _, b in HOSTILE], ids=[n for n, _ in HOSTILE])
def test_a_hostile_answer_is_a_provider_error_never_a_verdict(body: bytes) -> None:
    with moderator(answer(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProviderError)


@pytest.mark.parametrize("body", [b for _, b in HOSTILE], ids=[n for n, _ in HOSTILE])
def test_a_hostile_batch_answer_fails_the_batch_never_passes(body: bytes) -> None:
    with moderator(answer(body)) as mod:
        results = mod.check_many(["a", "b"], return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)


def test_a_batch_result_that_is_not_a_list_is_a_protocol_error() -> None:
    with moderator(answer({"code": 200, "result": {"antispam": {"suggestion": 0}}})) as mod:
        results = mod.check_many(["a", "b"], return_exceptions=True)
    for result in results:
        assert isinstance(result, AllProvidersFailed)
        (error,) = result.exceptions
        assert isinstance(error, ProtocolError)


def test_a_huge_answer_is_refused_unparsed() -> None:
    body = antispam(suggestion=0, padding="x" * (9 * 1024 * 1024))
    with moderator(answer(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)
    assert "bytes" in str(error)


@pytest.mark.parametrize(
    "keywords",
    [["k" * 20_000], [f"w{i}" for i in range(500)]],
    ids=["one-long-keyword", "many-keywords"],
)
def test_keywords_are_bounded(keywords: list[str]) -> None:
    sub = {"subLabel": "600001", "details": {"keywords": [{"word": w} for w in keywords]}}
    body = antispam(suggestion=2, label=600, labels=[{"label": 600, "subLabels": [sub]}])
    with moderator(answer(body)) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)
    assert "keyword" in str(error)


def test_a_vendor_message_never_carries_the_signature_or_a_credential() -> None:
    sent: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.update(form(request))
        echo = f"bad signature {sent['signature'].upper()} for secretId={sent['secretId']}"
        return httpx.Response(200, json=refused(410, echo))

    with moderator(handler) as mod:
        error = failure(mod)
    text = f"{error} {error!r} {error.args!r}"
    assert sent["signature"] not in text.lower()
    for secret in SECRETS:
        assert secret not in text
    assert "bad signature ***" in str(error)


def test_a_long_vendor_message_is_cut() -> None:
    with moderator(answer(refused(400, "x" * 10_000))) as mod:
        error = failure(mod)
    assert len(str(error)) < 400
