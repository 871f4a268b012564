"""Contract tests: replay the recorded Alibaba Cloud Green conversations in
``cassettes/`` and check both sides of the contract, the requests this package sends
(form body, signature parts) and the Verdicts it makes of the recorded answers.

Replay is the default and needs no network. Re-record (see docs/providers/aliyun.md):

    ALIYUN_RECORD=emulator .venv/bin/python -m pytest tests/providers/aliyun/test_contract.py
    ALIYUN_RECORD=live ALIYUN_ACCESS_KEY_ID=... ALIYUN_ACCESS_KEY_SECRET=... \
        ALIYUN_REGION=cn-shanghai .venv/bin/python -m pytest tests/providers/aliyun/test_contract.py

Recording filters every credential before it is written: the ``Authorization`` header,
the STS headers and the V1 query's ``AccessKeyId``, ``Signature`` and ``SecurityToken``
become FILTERED, the AccessKey id is masked wherever the gateway echoes it (its
SignatureDoesNotMatch message quotes the string it signed), and the real host is
rewritten to the fake one the replay uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import pytest
import yaml

from moderation_aliyun import classify, parse_acs3_authorization
from moderation_aliyun.emulator import OFFICIAL_EXAMPLES, RULES
from moderation_core import AllProvidersFailed, AuthError, Decision, Label, Moderator, Verdict
from moderation_core.testing import RecordingTransport, serve
from tests.support.cassettes import cassette

from .helpers import ACCESS_KEY_ID, ACCESS_KEY_SECRET, BASE_URL, emulator, form, table

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("ALIYUN_RECORD", "replay")
FILTERED = "FILTERED"
HOST = urlsplit(BASE_URL).hostname or ""
SECRET_QUERY = ("AccessKeyId", "Signature", "SecurityToken")
SECRET_HEADERS = ("authorization", "x-acs-security-token", "x-acs-accesskey-id")
LEVELS = {"none": Decision.PASS, "low": Decision.REVIEW, "medium": Decision.REVIEW}
TEXTS = ["今天天气不错", *(rule.triggers[0] for rule in RULES)]


@contextmanager
def _target() -> Iterator[dict[str, Any]]:
    """The provider table requests are made with, while recording or replaying."""
    if MODE == "replay":
        yield table()
    elif MODE == "emulator":
        with serve(emulator()) as base_url:
            yield table(base_url=base_url)
    elif MODE == "live":
        env = {
            key: os.environ.get(f"ALIYUN_{key.upper()}")
            for key in (
                "access_key_id",
                "access_key_secret",
                "security_token",
                "region",
                "base_url",
            )
        }
        missing = [
            f"ALIYUN_{k.upper()}" for k in ("access_key_id", "access_key_secret") if not env[k]
        ]
        if missing:
            pytest.fail(f"ALIYUN_RECORD=live needs {', '.join(missing)}")
        yield {"type": "aliyun_green", "rate_limit": 5, **{k: v for k, v in env.items() if v}}
    else:
        pytest.fail(f"ALIYUN_RECORD must be emulator or live, got {MODE!r}")


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        for form_ in {secret, quote(secret, safe=""), quote(quote(secret, safe=""), safe="")}:
            text = text.replace(form_, FILTERED)
    return text


def _scrubbers(target: dict[str, Any]) -> tuple[Any, Any]:
    secrets = [
        str(target[k])
        for k in ("access_key_id", "access_key_secret", "security_token")
        if target.get(k)
    ]

    def request(recorded: Any) -> Any:
        query = [
            (k, FILTERED if k in SECRET_QUERY else v)
            for k, v in parse_qsl(urlsplit(recorded.uri).query, keep_blank_values=True)
        ]
        recorded.uri = f"{BASE_URL}/" + (f"?{urlencode(query)}" if query else "")
        recorded.headers["host"] = HOST
        recorded.headers.pop("content-length", None)
        for name in SECRET_HEADERS:
            if name in recorded.headers:
                recorded.headers[name] = FILTERED
        return recorded

    def response(recorded: dict[str, Any]) -> dict[str, Any]:
        recorded["headers"].pop("Set-Cookie", None)
        body = recorded["body"]["string"]
        text = body.decode() if isinstance(body, bytes) else body
        recorded["body"]["string"] = _masked(text, secrets).encode()
        return recorded

    return request, response


@contextmanager
def conversation(
    name: str, **overrides: Any
) -> Iterator[tuple[Moderator, RecordingTransport, dict[str, Any]]]:
    """A Moderator whose HTTP is recorded to, or replayed from, ``cassettes/NAME.yaml``."""
    with _target() as target:
        scrub_request, scrub_response = _scrubbers(target)
        table_ = {**target, **overrides}
        with (
            cassette(
                CASSETTES,
                name,
                MODE,
                scrub_request=scrub_request,
                scrub_response=scrub_response,
            ) as capture,
            Moderator.from_config({"providers": {"aliyun": table_}}, transport=capture) as mod,
        ):
            yield mod, capture, table_


def assert_request(
    request: httpx.Request, target: dict[str, Any], service: str, parameters: dict[str, str]
) -> None:
    assert (request.method, request.url.path) == ("POST", "/")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    sent = form(request)
    assert sent["Service"] == service
    assert json.loads(sent["ServiceParameters"]) == parameters
    action = target.get("action", "TextModerationPlus")
    if target.get("signature", "acs3") == "acs3":
        assert request.headers["x-acs-action"] == action
        assert request.headers["x-acs-version"] == "2022-03-02"
        assert (
            parse_acs3_authorization(request.headers["Authorization"]).access_key_id
            == target["access_key_id"]
        )
    else:
        query = request.url.params
        assert (query["Action"], query["Version"], query["SignatureMethod"]) == (
            action,
            "2022-03-02",
            "HMAC-SHA1",
        )
        assert query["AccessKeyId"] == target["access_key_id"]
        assert query["Signature"]


def assert_crosswalk(verdict: Verdict, plus: bool) -> None:
    """The verdict is what docs/labels.md makes of whatever the vendor answered."""
    raw = verdict.raw
    assert isinstance(raw, dict)
    assert verdict.request_id == raw["RequestId"]
    data = raw["Data"]
    if plus:
        risky = [r for r in data.get("Result") or [] if r.get("Label") not in (None, "nonLabel")]
        assert verdict.decision is LEVELS.get(data["RiskLevel"], Decision.BLOCK)
        if risky:
            top = max(risky, key=lambda r: r.get("Confidence") or 0)
            assert (verdict.vendor_label, verdict.label) == (top["Label"], classify(top["Label"]))
    else:
        labels = [x for x in (data.get("labels") or "").split(",") if x]
        if labels:
            assert (verdict.vendor_label, verdict.label) == (labels[0], classify(labels[0]))
        else:
            assert verdict.label in (Label.NORMAL, Label.UNKNOWN)


@pytest.mark.parametrize("example", OFFICIAL_EXAMPLES, ids=lambda e: e.action)
def test_official_example(example: Any) -> None:
    name = f"official_example_{example.action}"
    overrides = {"action": example.action, "service": example.service}
    with conversation(name, **overrides) as (mod, capture, target):
        verdict = mod.check(example.content)
    (request,) = capture.requests
    assert_request(request, target, example.service, {"content": example.content})
    assert_crosswalk(verdict, example.action == "TextModerationPlus")
    if MODE != "live":  # what the API reference shows
        assert verdict.raw == example.answer
        assert (verdict.decision, verdict.label, verdict.vendor_label) == (
            Decision.BLOCK,
            Label.PORN,
            "porn",
        )


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("every_label_plus_acs3", {}),
        ("every_label_classic_v1", {"action": "TextModeration", "signature": "v1"}),
    ],
)
def test_every_label(name: str, overrides: dict[str, str]) -> None:
    with conversation(name, **overrides) as (mod, capture, target):
        verdicts = mod.check_many(TEXTS, sender="u1")
    plus = target.get("action", "TextModerationPlus") == "TextModerationPlus"
    service = "chat_detection_pro" if plus else "chat_detection"
    assert len(capture.requests) == len(TEXTS)
    for request, text, verdict in zip(capture.requests, TEXTS, verdicts, strict=True):
        assert_request(request, target, service, {"content": text, "accountId": "u1"})
        assert_crosswalk(verdict, plus)
    if MODE != "live":
        assert {v.decision for v in verdicts} == {Decision.PASS, Decision.REVIEW, Decision.BLOCK}
        expected = {rule.plus_label if plus else rule.classic_label for rule in RULES}
        assert {v.vendor_label for v in verdicts[1:]} == expected


def test_long_text_is_split_under_the_limit() -> None:
    text = "ab " * 1500 + "颠覆国家"  # 4,504 characters
    with conversation("long_text_split") as (mod, capture, _target):
        verdict = mod.check(text)
    sizes = [len(json.loads(form(r)["ServiceParameters"])["content"]) for r in capture.requests]
    assert len(sizes) >= 3
    assert max(sizes) <= 2000
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.POLITICS)


@pytest.mark.parametrize("signature", ["acs3", "v1"])
def test_wrong_secret(signature: str) -> None:
    with (
        conversation(
            f"wrong_secret_{signature}", signature=signature, access_key_secret="not-the-secret-00"
        ) as (mod, capture, _t),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (error,) = caught.value.exceptions
    assert (type(error), error.code) == (AuthError, "SignatureDoesNotMatch")
    assert len(capture.requests) == 1  # no retry


EXPECTED_CASSETTES = {
    "official_example_TextModeration",
    "official_example_TextModerationPlus",
    "every_label_plus_acs3",
    "every_label_classic_v1",
    "long_text_split",
    "wrong_secret_acs3",
    "wrong_secret_v1",
}


def test_cassettes_hold_no_credentials() -> None:
    # tests/test_no_secrets.py scans every recorded file; this checks what recording adds.
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert {p.stem for p in cassettes} == EXPECTED_CASSETTES
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        for secret in (ACCESS_KEY_ID, ACCESS_KEY_SECRET, "not-the-secret-00"):
            assert secret not in text
        for interaction in yaml.safe_load(text)["interactions"]:
            request = interaction["request"]
            assert request["uri"].startswith(f"{BASE_URL}/")
            assert request["headers"]["host"] == [HOST]
            query = dict(parse_qsl(urlsplit(request["uri"]).query))
            for name in SECRET_QUERY:
                assert query.get(name, FILTERED) == FILTERED
            for name in SECRET_HEADERS:
                assert request["headers"].get(name, [FILTERED]) == [FILTERED]
